// CPU kernel of ShapeOp (layers/shape_op.h): the value is computed by the shape rule; nothing runs at enqueue.
#include "layers/shape_op.h"

namespace gie {
namespace {

class ShapeOpCpu final : public ShapeOpKernel<ShapeOpCpu> {
public:
    using ShapeOpKernel::ShapeOpKernel;
};
GIE_REGISTER_KERNEL(ShapeOpCpu, DeviceType::kCPU);

}  // namespace
}  // namespace gie
