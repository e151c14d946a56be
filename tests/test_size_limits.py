"""Size arithmetic is overflow-checked (issue 11 item 6): a tensor has at most 2^40 elements, size-like fields
(paddings, strides, kernel sizes, reshape targets) at most 2^40 in magnitude, and an absurd size is refused by
the call that introduced it with a gie error naming the layer (or input) and the dimension or field."""
import numpy as np
import pytest

import gie


@pytest.fixture
def net():
    return gie.Builder().create_network()


def test_input_whose_volume_overflows(net):
    with pytest.raises(gie.InvalidArgumentError, match=r"'big'.*2\^40 elements.*dimension 0"):
        net.add_input("big", gie.float32, (2**40, 2**40))
    with pytest.raises(gie.InvalidArgumentError, match=r"'huge'.*dimension 2 is 4611686018427387904"):
        net.add_input("huge", gie.float32, (1, 4, 2**62))
    net.add_input("fine", gie.float32, (1, 2**20, 2**20))  # exactly 2^40 elements is allowed


def test_convolution_padding_2_61_refused_at_the_call(net):
    """pre_padding=(2**61, 0) built with a tiny arena and returned zeros (the output size overflowed)."""
    x = net.add_input("x", gie.float32, (1, 1, 4, 4))
    k = np.ones((1, 1, 1, 1), np.float32)
    with pytest.raises(gie.InvalidArgumentError, match=r"Convolution.*'pre_padding' is 2305843009213693952"):
        net.add_convolution(x, 1, (1, 1), k, pre_padding=(2**61, 0))
    conv = net.add_convolution(x, 1, (1, 1), k)
    conv.name = "c"
    with pytest.raises(gie.InvalidArgumentError, match=r"'c'.*'pre_padding'"):
        conv.pre_padding = (2**61, 0)
    # Within the field bound but an output beyond 2^40 elements: refused with the layer and the dimension.
    with pytest.raises(gie.InvalidModelError, match=r"layer 'c2'.*output 0 would be \(1, 1, 1099511627780, 1099511627780\).*dimension 2"):
        c2 = net.add_convolution(x, 1, (1, 1), k)
        c2.name = "c2"
        c2.padding = (2**39, 2**39)
        c2.output(0).shape


@pytest.mark.parametrize("field,value", [("stride", (2**62, 1)), ("dilation", (1, 2**50)), ("kernel_size", (2**41, 1))])
def test_convolution_size_fields_bounded(net, field, value):
    x = net.add_input("x", gie.float32, (1, 1, 4, 4))
    conv = net.add_convolution(x, 1, (1, 1), np.ones((1, 1, 1, 1), np.float32))
    with pytest.raises(gie.InvalidArgumentError, match=f"'{field}' is {max(value)}"):
        setattr(conv, field, value)


def test_huge_padding_and_resize_are_gie_errors(net):
    """Huge padding or resize scales on an output failed later with numpy errors."""
    x = net.add_input("x", gie.float32, (1, 1, 4, 4))
    with pytest.raises(gie.InvalidArgumentError, match=r"Padding pre_padding\[2\] is 2305843009213693952"):
        net.add_padding(x, (0, 0, 2**61, 0), (0, 0, 0, 0))
    with pytest.raises(gie.InvalidModelError, match=r"Resize.*dimension 2 .*scaled by 1e\+30"):
        net.add_resize(x, gie.ResizeMode.NEAREST, scales=(1, 1, 1e30, 1))
    with pytest.raises(gie.InvalidModelError, match=r"Resize.*output 0 would be \(1, 1, 40000000000, 40000000000\)"):
        net.add_resize(x, gie.ResizeMode.NEAREST, scales=(1, 1, 1e10, 1e10))
    with pytest.raises(gie.InvalidArgumentError, match=r"Slice stride\[0\]"):
        net.add_slice(x, (0,), (2,), (2**62,))
    with pytest.raises(gie.InvalidArgumentError, match=r"Shuffle reshape dimension 1"):
        net.add_shuffle(x).reshape = (1, 2**62, 0, 0)


def test_output_that_does_not_fit_in_host_memory():
    """Within the limits but larger than the machine: execute raises gie.OutOfMemoryError, not numpy's MemoryError."""
    try:
        overcommit = open("/proc/sys/vm/overcommit_memory").read().strip()
    except OSError:
        overcommit = "?"
    if overcommit != "0":
        pytest.skip(f"vm.overcommit_memory is {overcommit}: a 2 TiB allocation may succeed and the run be OOM-killed")
    builder = gie.Builder()
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 1, 4, 4))
    p = net.add_padding(x, (0, 0, 2**37, 0), (0, 0, 0, 0))  # 2 TiB of float32
    net.mark_output(p.output(0), "y")
    config = builder.create_config()
    config.device = "cpu"
    engine = builder.build(net, config)
    with pytest.raises(gie.OutOfMemoryError, match="output 'y'"):
        engine.create_execution_context().execute({"x": np.ones((1, 1, 4, 4), np.float32)})


def test_batch_range_bounded():
    builder = gie.Builder()
    config = builder.create_config()
    with pytest.raises(gie.InvalidArgumentError, match=r"2\^40"):
        config.max_batch = 2**50
    net = builder.create_network()
    x = net.add_input("x", gie.float32, (1, 2**20))
    net.mark_output(net.add_activation(x, gie.ActivationType.RELU).output(0), "y")
    config.device = "cpu"
    config.max_batch = 2**21  # each tensor 2^41 elements at the largest batch
    with pytest.raises(gie.InvalidArgumentError, match=r"input 'x' at the largest batch \(2097152\)"):
        builder.build(net, config)
