// INT8 calibration (issue 14): runs the network as defined (before any optimizer pass) in FP32 on the CPU (or the
// GPU) over the batches of an IInt8Calibrator, observes every float tensor (max |x| and a histogram of |x|), and
// turns what it saw into one range (amax: |x| <= amax, scale = amax / 127) per tensor with the calibrator's
// algorithm; or reads those ranges from the calibrator's cache. The builder applies the result to the IR
// tensors whose dynamicRange is unset (ITensor::setDynamicRange wins) before the passes run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gie/builder.h"

namespace gie {

class Graph;
struct InputRange;

//! What the observer saw of one tensor over all batches.
struct TensorStatistics {
    double maxAbs = 0;                //!< max |x|
    double binWidth = 0;              //!< histogram bin width (0: no histogram, or every value was 0)
    std::vector<int64_t> histogram;   //!< counts of |x| in [k * binWidth, (k + 1) * binWidth); the last bin is closed
    int64_t count = 0;                //!< values observed
};

struct CalibrationResult {
    //! Range per float tensor: calibrated (or read from the cache), except that a range set with
    //! ITensor::setDynamicRange replaces the calibrated one.
    std::map<std::string, float> amax;
    //! The calibrated (or cached) ranges alone, as in the cache.
    std::map<std::string, float> calibrated;
    //! Per tensor, when asked for and calibration ran (empty when the ranges came from the cache).
    std::map<std::string, TensorStatistics> statistics;
    bool fromCache = false;
    int32_t batches = 0;
    //! Where the FP32 forward pass ran (the GPU when asked for, usable and every layer has a GPU kernel; else the CPU).
    DeviceType device = DeviceType::kCPU;
};

//! Number of histogram bins the observer keeps per tensor.
constexpr int kCalibrationBinsLog2 = 11;
constexpr int kCalibrationBins = 1 << kCalibrationBinsLog2;

//! Reads the calibrator's cache (refusing, with an error that says why, one written for another network or
//! algorithm) or calibrates `network` and hands the new cache to the calibrator. Throws gie::Error. With `profiles`
//! (the build's optimization profiles, inputs in network order), every batch must lie within one of them. `device`
//! kGPU runs the forward pass on the GPU's FP32 kernels when a GPU is usable and has a kernel for every layer (else on
//! the CPU, with a warning that says why); the observer and the algorithms are the same.
CalibrationResult calibrateNetwork(const INetworkDefinition& network, IInt8Calibrator& calibrator, ILogger* logger, bool keepStatistics,
                                   const std::vector<std::vector<InputRange>>* profiles = nullptr,
                                   DeviceType device = DeviceType::kCPU);
//! The same for the Python bindings (gie.calibrate): false, with the error recorded (getLastError), on failure.
GIE_API bool calibrateNetworkNoThrow(const INetworkDefinition& network, IInt8Calibrator& calibrator, ILogger* logger, bool keepStatistics,
                                     CalibrationResult* result) noexcept;

//! Gives each IR tensor without a range (dynamicRange < 0) the one `amax` has for its name; ranges <= 0
//! (a tensor that was 0 on every batch) are not applied. Returns the number of tensors changed.
int applyDynamicRanges(Graph& g, const std::map<std::string, float>& amax);

//! The range algorithms over a histogram of |x| (bin k counts [k * binWidth, (k + 1) * binWidth)), never more
//! than maxAbs; exported for the tests. Entropy: TensorRT's EntropyCalibrator2 search (docs/int8.md).
GIE_API double entropyAmax(const std::vector<int64_t>& histogram, double binWidth, double maxAbs);
GIE_API double percentileAmax(const std::vector<int64_t>& histogram, double binWidth, double maxAbs, double percentile);

//! "entropy", "minmax", "percentile 99.99": the algorithm as named in the cache header.
std::string algorithmName(IInt8Calibrator::Algorithm algorithm, double percentile);

}  // namespace gie
