#!/usr/bin/env python3
"""Kept for old commands: bench/cpu_vs_ort.py with ResNet-50 as the default model (same options)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_vs_ort import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(default_model="resnet50"))
