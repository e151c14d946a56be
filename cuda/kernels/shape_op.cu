// GPU kernel of ShapeOp (layers/shape_op.h): shape tensors are host values computed by the shape rule (at
// set_input_shape); nothing runs on the device, so a GPU engine places them with its other steps at no cost.
#include "common.cuh"
#include "layers/shape_op.h"

namespace gie {
namespace {

class ShapeOpGpu final : public ShapeOpKernel<ShapeOpGpu> {
public:
    using ShapeOpKernel::ShapeOpKernel;
};
GIE_REGISTER_KERNEL(ShapeOpGpu, DeviceType::kGPU);

}  // namespace
}  // namespace gie
