// The converters of the built-in Caffe layer types (one function each; registered in the table at the end).
#include <algorithm>
#include <cmath>
#include <map>

#include "parsers/caffe/caffe_importer.h"

namespace gie {
namespace caffe {
namespace {

using importer::Fields;
using importer::tupleText;
using importer::listText;
using importer::floatText;
using Tensors = std::vector<ITensor*>;

std::vector<int64_t> shapeOf(ITensor* t) { return importer::dimsOf(*t); }
int64_t rankOf(ITensor* t) { return static_cast<int64_t>(shapeOf(t).size()); }
int64_t prod(const std::vector<int64_t>& s, size_t a = 0, size_t b = SIZE_MAX) {
    int64_t n = 1;
    for (size_t i = a; i < std::min(b, s.size()); ++i) n *= s[i];
    return n;
}
const Message& param(const Layer& l, const char* name) { return l.msg->getMessage(name); }

Tensors input(Converter& c, const Layer& l) {
    const Message& p = param(l, "input_param");
    std::vector<std::vector<int64_t>> shapes;
    for (const Message* s : p.messages("shape")) shapes.push_back(s->ints("dim"));
    if (shapes.size() == 1 && l.top.size() > 1) shapes.assign(l.top.size(), shapes[0]);
    if (shapes.size() != l.top.size()) c.error(strcat(l.top.size(), " tops but ", shapes.size(), " shapes"));
    Tensors out;
    for (size_t i = 0; i < l.top.size(); ++i) out.push_back(c.addInput(l.top[i], shapes[i], "layer '" + l.name + "' top"));
    return out;
}

Tensors conv(Converter& c, const Layer& l, bool deconv) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "convolution_param");
    std::vector<int64_t> xs = shapeOf(x);
    if (xs.size() != 4) c.error("needs a 4D NCHW input, got shape " + tupleText(xs));
    if (p.getInt("axis") != 1) c.error(strcat("convolution_param.axis = ", p.getInt("axis"), " (only 1)"), ErrorCode::kUNSUPPORTED);
    int64_t k = c.checkPos("num_output", p.getInt("num_output"));
    int64_t g = c.checkPos("group", p.getInt("group"));
    std::vector<int64_t> kernel = c.pair(p, "kernel_size", "kernel_h", "kernel_w", 0, true, 1);
    std::vector<int64_t> pad = c.pair(p, "pad", "pad_h", "pad_w", 0, false, 0);
    std::vector<int64_t> stride = c.pair(p, "stride", "stride_h", "stride_w", 1, false, 1);
    std::vector<int64_t> dil = c.pair(p, "dilation", nullptr, nullptr, 1, false, 1);
    int64_t ch = xs[1];
    if (ch % g || k % g) c.error(strcat("group ", g, " does not divide input channels ", ch, " and num_output ", k));
    std::vector<int64_t> wshape = deconv ? std::vector<int64_t>{ch, k / g, kernel[0], kernel[1]}
                                         : std::vector<int64_t>{k, ch / g, kernel[0], kernel[1]};
    bool bias = p.getBool("bias_term");
    std::vector<std::vector<int64_t>> expected{wshape};
    if (bias) expected.push_back({k});
    std::vector<Blob> b = c.getBlobs(l, expected, c.he((ch / g) * kernel[0] * kernel[1]));
    Fields f;
    f.i("num_output_maps", k).ints("kernel_size", kernel).weights("kernel", b[0].data.data(), static_cast<int64_t>(b[0].data.size()));
    if (bias) f.weights("bias", b[1].data.data(), static_cast<int64_t>(b[1].data.size()));
    f.ints("stride", stride).ints("pre_padding", pad).ints("post_padding", pad).ints("dilation", dil).i("num_groups", g);
    return {c.add(deconv ? "Deconvolution" : "Convolution", {x}, f)};
}
Tensors convolution(Converter& c, const Layer& l) { return conv(c, l, false); }
Tensors deconvolution(Converter& c, const Layer& l) { return conv(c, l, true); }

Tensors innerProduct(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "inner_product_param");
    int64_t n = c.checkPos("num_output", p.getInt("num_output"));
    std::vector<int64_t> xs = shapeOf(x);
    int64_t rank = static_cast<int64_t>(xs.size());
    int64_t axis0 = p.getInt("axis");
    int64_t axis = axis0 < 0 ? axis0 + rank : axis0;
    if (!(1 <= axis && axis < rank)) c.error(strcat("axis ", axis0, " out of range for shape ", tupleText(xs)));
    int64_t flat = prod(xs, static_cast<size_t>(axis));
    bool transpose = p.getBool("transpose"), bias = p.getBool("bias_term");
    std::vector<std::vector<int64_t>> expected{transpose ? std::vector<int64_t>{flat, n} : std::vector<int64_t>{n, flat}};
    if (bias) expected.push_back({n});
    std::vector<Blob> b = c.getBlobs(l, expected, c.he(flat));
    std::vector<float> w = b[0].data;
    if (transpose)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < flat; ++j) w[static_cast<size_t>(i * flat + j)] = b[0].data[static_cast<size_t>(j * n + i)];
    Fields f;
    f.i("num_outputs", n).weights("kernel", w.data(), static_cast<int64_t>(w.size()));
    if (bias) f.weights("bias", b[1].data.data(), n);
    f.i("axis", axis);
    return {c.add("FullyConnected", {x}, f)};
}

Tensors pooling(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "pooling_param");
    std::vector<int64_t> xs = shapeOf(x);
    if (xs.size() != 4) c.error("needs a 4D NCHW input, got shape " + tupleText(xs));
    int64_t pool = p.getInt("pool");
    if (pool == 2) c.error("STOCHASTIC pooling is not supported", ErrorCode::kUNSUPPORTED);
    std::vector<int64_t> pad = c.pair(p, "pad", "pad_h", "pad_w", 0, false, 0);
    std::vector<int64_t> stride = c.pair(p, "stride", "stride_h", "stride_w", 1, false, 1);
    bool global = p.getBool("global_pooling");
    std::vector<int64_t> window;
    if (global) {
        window = {xs[2], xs[3]};
        if (pad != std::vector<int64_t>{0, 0} || stride != std::vector<int64_t>{1, 1}) c.error("global_pooling takes no pad or stride");
    } else {
        window = c.pair(p, "kernel_size", "kernel_h", "kernel_w", 0, true, 1);
        if (pad[0] >= window[0] || pad[1] >= window[1])
            c.error("pad " + tupleText(pad) + " must be smaller than the kernel " + tupleText(window));
        std::vector<int64_t> padded{xs[2] + 2 * pad[0], xs[3] + 2 * pad[1]};
        if (window[0] > padded[0] || window[1] > padded[1])
            c.error("pooling window " + tupleText(window) + " is larger than the padded input " + tupleText(padded) + " (input " +
                    tupleText({xs[2], xs[3]}) + ", pad " + tupleText(pad) + ")");
    }
    Fields f;
    f.i("pooling_type", static_cast<int64_t>(pool == 0 ? PoolingType::kMAX : PoolingType::kAVERAGE))
        .ints("window_size", window).ints("stride", stride).ints("pre_padding", pad).ints("post_padding", pad)
        .i("ceil_mode", global ? 0 : p.getInt("round_mode") == 0).i("exclude_padding", 0);
    if (global) f.i("global", 1);
    return {c.add("Pooling", {x}, f)};
}

Tensors act(Converter& c, const Layer& l, ActivationType type, const float* alpha = nullptr) {
    ITensor* x = c.ins(l, 1)[0];
    Fields f;
    f.i("activation_type", static_cast<int64_t>(type));
    if (alpha) f.f("alpha", *alpha);
    return {c.add("Activation", {x}, f)};
}

Tensors relu(Converter& c, const Layer& l) {
    double s = param(l, "relu_param").getFloat("negative_slope");
    if (s == 0) return act(c, l, ActivationType::kRELU);
    float a = static_cast<float>(s);
    return act(c, l, ActivationType::kLEAKY_RELU, &a);
}
Tensors sigmoid(Converter& c, const Layer& l) { return act(c, l, ActivationType::kSIGMOID); }
Tensors tanhLayer(Converter& c, const Layer& l) { return act(c, l, ActivationType::kTANH); }
Tensors elu(Converter& c, const Layer& l) {
    float a = static_cast<float>(param(l, "elu_param").getFloat("alpha"));
    return act(c, l, ActivationType::kELU, &a);
}
Tensors bnll(Converter& c, const Layer& l) { return act(c, l, ActivationType::kSOFTPLUS); }

Tensors prelu(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    std::vector<int64_t> xs = shapeOf(x);
    if (xs.size() < 2) c.error("needs rank >= 2, got " + tupleText(xs));
    int64_t ch = param(l, "prelu_param").getBool("channel_shared") ? 1 : xs[1];
    std::vector<Blob> b = c.getBlobs(l, {{ch}}, [&c](size_t, int64_t) { return c.rng().uniform(0.1, 0.4); });
    Fields f;
    f.weights("slope", b[0].data.data(), ch);
    return {c.add("PRelu", {x}, f)};
}

ITensor* unaryOp(Converter& c, ITensor* x, UnaryOperation op, const std::string& suffix = "") {
    Fields f;
    f.i("op", static_cast<int64_t>(op));
    return c.add("Unary", {x}, f, suffix);
}

Tensors absval(Converter& c, const Layer& l) { return {unaryOp(c, c.ins(l, 1)[0], UnaryOperation::kABS)}; }

Tensors power(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "power_param");
    ITensor* y = c.uniform(x, nullptr, p.getFloat("scale"), p.getFloat("shift"), p.getFloat("power"));
    return {y != x ? y : c.add("Identity", {x}, Fields())};
}

Tensors expLayer(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "exp_param");
    double base = p.getFloat("base");
    if (base != -1 && base <= 0) c.error("exp_param.base must be -1 or positive, got " + floatText(base));
    double lnb = base == -1 ? 1.0 : std::log(base);
    ITensor* y = c.uniform(x, "scale", p.getFloat("scale") * lnb, p.getFloat("shift") * lnb);
    return {unaryOp(c, y, UnaryOperation::kEXP)};
}

Tensors logLayer(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "log_param");
    double base = p.getFloat("base");
    if (base != -1 && (base <= 0 || base == 1)) c.error("log_param.base must be -1 or positive and not 1");
    ITensor* y = c.uniform(x, "scale", p.getFloat("scale"), p.getFloat("shift"));
    y = unaryOp(c, y, UnaryOperation::kLOG, base == -1 ? "" : "log");
    if (base != -1) y = c.uniform(y, nullptr, 1.0 / std::log(base));
    return {y};
}

ITensor* eltwise(Converter& c, ITensor* a, ITensor* b, ElementWiseOperation op, const std::string& suffix = "") {
    Fields f;
    f.i("op", static_cast<int64_t>(op));
    return c.add("ElementWise", {a, b}, f, suffix);
}

Tensors lrn(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "lrn_param");
    int64_t n = c.checkPos("local_size", p.getInt("local_size"));
    if (n % 2 == 0) c.error(strcat("local_size must be odd, got ", n));
    for (const char* f : {"alpha", "beta", "k"})
        if (!std::isfinite(p.getFloat(f))) c.error(strcat("lrn_param.", f, " must be finite"));
    float alpha = static_cast<float>(p.getFloat("alpha")), beta = static_cast<float>(p.getFloat("beta"));
    if (p.getInt("norm_region") == 0) {
        Fields f;
        f.i("window_size", n).f("alpha", alpha).f("beta", beta).f("k", static_cast<float>(p.getFloat("k")));
        return {c.add("LRN", {x}, f)};
    }
    // WITHIN_CHANNEL: x * (1 + alpha * avgpool_n(x^2)) ^ -beta, zero padding counted (Caffe).
    std::vector<int64_t> xs = shapeOf(x);
    if (xs.size() != 4) c.error("WITHIN_CHANNEL needs a 4D input, got " + tupleText(xs));
    ITensor* sq = eltwise(c, x, x, ElementWiseOperation::kPROD, "sq");
    int64_t pad = (n - 1) / 2;
    Fields f;
    f.i("pooling_type", static_cast<int64_t>(PoolingType::kAVERAGE)).ints("window_size", {n, n}).ints("stride", {1, 1})
        .ints("pre_padding", {pad, pad}).ints("post_padding", {pad, pad}).i("exclude_padding", 0).i("ceil_mode", 1);
    ITensor* avg = c.add("Pooling", {sq}, f, "pool");
    ITensor* den = c.uniform(avg, "power", alpha, 1.0, -static_cast<double>(beta));
    return {eltwise(c, x, den, ElementWiseOperation::kPROD)};
}

Tensors batchnorm(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "batch_norm_param");
    std::vector<int64_t> xs = shapeOf(x);
    if (xs.size() < 2) c.error("needs rank >= 2, got " + tupleText(xs));
    int64_t ch = xs[1];
    std::vector<Blob> b = c.getBlobs(l, {{ch}, {ch}, {1}}, [&c](size_t i, int64_t) {
        return i == 0 ? c.rng().normal() * 0.1 : i == 1 ? c.rng().uniform(0.5, 1.5) : 1.0;
    });
    double sf = b[2].data[0];
    double f = sf == 0 ? 0.0 : 1.0 / sf;
    double eps = p.getFloat("eps");
    std::vector<float> scale(static_cast<size_t>(ch)), shift(static_cast<size_t>(ch));
    bool bad = !std::isfinite(eps);
    for (size_t i = 0; i < static_cast<size_t>(ch); ++i) {
        double mean = b[0].data[i] * f, var = b[1].data[i] * f;
        if (var + eps <= 0) bad = true;
        double s = 1.0 / std::sqrt(var + eps);
        scale[i] = static_cast<float>(s);
        shift[i] = static_cast<float>(-mean * s);
    }
    if (bad) c.error("variance + eps must be positive");
    Fields fl;
    fl.i("mode", static_cast<int64_t>(ScaleMode::kCHANNEL)).weights("scale", scale.data(), ch).weights("shift", shift.data(), ch);
    return {c.add("Scale", {x}, fl)};
}

//! The second bottom of Scale / Bias laid over dims [axis, ...) of x; false if its shape does not match.
bool overlay(ITensor* x, ITensor* s, int64_t axis) {
    std::vector<int64_t> xs = shapeOf(x), ss = shapeOf(s);
    if (axis < 0 || axis > static_cast<int64_t>(xs.size())) return ss.empty();
    std::vector<int64_t> part(xs.begin() + axis, xs.begin() + std::min(xs.size(), static_cast<size_t>(axis) + ss.size()));
    return part == ss;
}

ITensor* trailingOnes(Converter& c, ITensor* x, ITensor* s, int64_t axis) {
    std::vector<int64_t> ss = shapeOf(s);
    int64_t trailing = rankOf(x) - axis - static_cast<int64_t>(ss.size());
    if (trailing <= 0) return s;
    for (int64_t i = 0; i < trailing; ++i) ss.push_back(1);
    return c.reshapeTo(s, ss, "reshape");
}

Tensors scale(Converter& c, const Layer& l) {
    const Message& p = param(l, "scale_param");
    Tensors xs = c.ins(l, -1, 1);
    ITensor* x = xs[0];
    bool bias = p.getBool("bias_term");
    if (xs.size() == 2) {
        ITensor* s = xs[1];
        int64_t axis = p.getInt("axis") < 0 ? p.getInt("axis") + rankOf(x) : p.getInt("axis");
        if (!(0 <= axis) || !overlay(x, s, axis))
            c.error("scale input shape " + tupleText(shapeOf(s)) + " does not match " + tupleText(shapeOf(x)) + " at axis " +
                    std::to_string(p.getInt("axis")));
        s = trailingOnes(c, x, s, axis);
        ITensor* y = eltwise(c, x, s, ElementWiseOperation::kPROD, bias ? "mul" : "");
        if (bias) {
            std::vector<Blob> b = c.getBlobs(l, {shapeOf(xs[1])}, [&c](size_t, int64_t) { return c.rng().normal() * 0.1; });
            y = c.broadcast(y, b[0], axis, ElementWiseOperation::kSUM, nullptr);
        }
        return {y};
    }
    if (xs.size() != 1) c.error(strcat("needs 1 or 2 bottoms, has ", xs.size()));
    int64_t axis, end;
    std::vector<int64_t> shape;
    c.axesShape(x, p.getInt("axis"), p.getInt("num_axes"), "scale_param", &axis, &end, &shape);
    std::vector<std::vector<int64_t>> expected{shape};
    if (bias) expected.push_back(shape);
    std::vector<Blob> b = c.getBlobs(l, expected, [&c](size_t i, int64_t) {
        return i == 0 ? c.rng().uniform(0.5, 1.5) : c.rng().normal() * 0.1;
    });
    return {c.scaleLike(&b[0], bias ? &b[1] : nullptr, axis, end, x)};
}

Tensors biasLayer(Converter& c, const Layer& l) {
    const Message& p = param(l, "bias_param");
    Tensors xs = c.ins(l, -1, 1);
    ITensor* x = xs[0];
    if (xs.size() == 2) {
        ITensor* s = xs[1];
        int64_t axis = p.getInt("axis") < 0 ? p.getInt("axis") + rankOf(x) : p.getInt("axis");
        if (!overlay(x, s, axis))
            c.error("bias input shape " + tupleText(shapeOf(s)) + " does not match " + tupleText(shapeOf(x)));
        s = trailingOnes(c, x, s, axis);
        return {eltwise(c, x, s, ElementWiseOperation::kSUM)};
    }
    if (xs.size() != 1) c.error(strcat("needs 1 or 2 bottoms, has ", xs.size()));
    int64_t axis, end;
    std::vector<int64_t> shape;
    c.axesShape(x, p.getInt("axis"), p.getInt("num_axes"), "bias_param", &axis, &end, &shape);
    std::vector<Blob> b = c.getBlobs(l, {shape}, [&c](size_t, int64_t) { return c.rng().normal() * 0.1; });
    return {c.scaleLike(nullptr, &b[0], axis, end, x)};
}

Tensors eltwiseLayer(Converter& c, const Layer& l) {
    Tensors xs = c.ins(l, -1, 2);
    const Message& p = param(l, "eltwise_param");
    std::vector<double> coeff = p.floats("coeff");
    int64_t opn = p.getInt("operation");
    ElementWiseOperation op = opn == 0 ? ElementWiseOperation::kPROD : opn == 1 ? ElementWiseOperation::kSUM : ElementWiseOperation::kMAX;
    if (!coeff.empty()) {
        if (opn != 1) c.error("coeff is only for SUM");
        if (coeff.size() != xs.size()) c.error(strcat(coeff.size(), " coeff values for ", xs.size(), " bottoms"));
        for (size_t i = 0; i < xs.size(); ++i) xs[i] = c.uniform(xs[i], ("coeff" + std::to_string(i)).c_str(), coeff[i]);
    }
    ITensor* y = xs[0];
    for (size_t i = 1; i < xs.size(); ++i) {
        if (shapeOf(xs[i]) != shapeOf(xs[0]))
            c.error("bottom shapes differ: " + tupleText(shapeOf(xs[0])) + " vs " + tupleText(shapeOf(xs[i])));
        y = eltwise(c, y, xs[i], op, i == xs.size() - 1 ? "" : std::to_string(i - 1));
    }
    return {y};
}

Tensors concat(Converter& c, const Layer& l) {
    Tensors xs = c.ins(l, -1, 1);
    const Message& p = param(l, "concat_param");
    int64_t axis = p.has("axis") || !p.has("concat_dim") ? p.getInt("axis") : p.getInt("concat_dim");
    if (xs.size() == 1) return {c.add("Identity", xs, Fields())};
    Fields f;
    f.i("axis", axis);
    return {c.add("Concatenation", xs, f)};
}

Tensors slice(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "slice_param");
    std::vector<int64_t> xs = shapeOf(x);
    int64_t rank = static_cast<int64_t>(xs.size());
    int64_t axis = p.has("axis") || !p.has("slice_dim") ? p.getInt("axis") : p.getInt("slice_dim");
    axis = axis < 0 ? axis + rank : axis;
    if (!(0 <= axis && axis < rank)) c.error(strcat("slice axis ", p.getInt("axis"), " out of range for shape ", tupleText(xs)));
    int64_t n = xs[static_cast<size_t>(axis)];
    int64_t tops = static_cast<int64_t>(l.top.size());
    if (tops < 1) c.error("has no tops");
    std::vector<int64_t> pts = p.ints("slice_point"), bounds;
    if (!pts.empty()) {
        if (static_cast<int64_t>(pts.size()) != tops - 1) c.error(strcat(pts.size(), " slice_point values for ", tops, " tops"));
        bounds.push_back(0);
        bounds.insert(bounds.end(), pts.begin(), pts.end());
        bounds.push_back(n);
        for (size_t i = 1; i < bounds.size(); ++i)
            if (bounds[i] <= bounds[i - 1]) c.error(strcat("slice_point ", listText(pts), " must increase inside (0, ", n, ")"));
    } else {
        if (n % tops) c.error(strcat("dimension ", n, " does not split into ", tops, " equal parts"));
        for (int64_t i = 0; i <= tops; ++i) bounds.push_back(i * n / tops);
    }
    std::vector<int64_t> trail(xs.begin() + axis, xs.end());
    Tensors outs;
    for (int64_t i = 0; i < tops; ++i) {
        std::vector<int64_t> start(trail.size(), 0), size = trail, stride(trail.size(), 1);
        start[0] = bounds[static_cast<size_t>(i)];
        size[0] = bounds[static_cast<size_t>(i) + 1] - bounds[static_cast<size_t>(i)];
        Fields f;
        f.ints("start", start).ints("size", size).ints("stride", stride);
        outs.push_back(c.add("Slice", {x}, f, std::to_string(i)));
    }
    return outs;
}

Tensors split(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    return Tensors(l.top.size(), x);
}

Tensors passthrough(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    if (l.top.size() != 1) c.error("needs 1 top");
    return {x};
}

Tensors softmax(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    Fields f;
    f.i("axis", param(l, "softmax_param").getInt("axis"));
    return {c.add("Softmax", {x}, f)};
}

Tensors flatten(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "flatten_param");
    std::vector<int64_t> s = shapeOf(x);
    int64_t rank = static_cast<int64_t>(s.size());
    int64_t a = p.getInt("axis") < 0 ? p.getInt("axis") + rank : p.getInt("axis");
    int64_t e = p.getInt("end_axis") < 0 ? p.getInt("end_axis") + rank : p.getInt("end_axis");
    if (!(0 <= a && a < rank && 0 <= e && e < rank && a <= e))
        c.error(strcat("axis ", p.getInt("axis"), " / end_axis ", p.getInt("end_axis"), " out of range for ", tupleText(s)));
    std::vector<int64_t> shape(s.begin(), s.begin() + a);
    shape.push_back(prod(s, static_cast<size_t>(a), static_cast<size_t>(e) + 1));
    shape.insert(shape.end(), s.begin() + e + 1, s.end());
    return {c.reshapeTo(x, shape)};
}

Tensors reshape(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "reshape_param");
    std::vector<int64_t> s = shapeOf(x);
    int64_t rank = static_cast<int64_t>(s.size());
    int64_t axis0 = p.getInt("axis"), numAxes = p.getInt("num_axes");
    int64_t axis = axis0 < 0 ? axis0 + rank + 1 : axis0;
    if (!(0 <= axis && axis <= rank)) c.error(strcat("reshape_param.axis ", axis0, " out of range for ", tupleText(s)));
    int64_t end = numAxes == -1 ? rank : axis + numAxes;
    if (numAxes < -1 || end > rank) c.error(strcat("reshape_param.num_axes ", numAxes, " out of range for ", tupleText(s)));
    std::vector<int64_t> spec = p.getMessage("shape").ints("dim");
    if (static_cast<int64_t>(spec.size()) + rank - (end - axis) > 8) c.error("too many dimensions");
    std::vector<int64_t> mid;
    int64_t infer = -1;
    for (size_t i = 0; i < spec.size(); ++i) {
        int64_t d = spec[i];
        if (d == 0) {
            if (axis + static_cast<int64_t>(i) >= rank)
                c.error(strcat("shape dim ", i, " is 0 but the input has no dimension ", axis + static_cast<int64_t>(i)));
            mid.push_back(s[static_cast<size_t>(axis) + i]);
        } else if (d == -1) {
            if (infer >= 0) c.error("more than one -1 in shape");
            infer = static_cast<int64_t>(i);
            mid.push_back(1);
        } else if (d < -1) {
            c.error(strcat("shape dim ", d, " is invalid"));
        } else {
            mid.push_back(d);
        }
    }
    int64_t vol = prod(s, static_cast<size_t>(axis), static_cast<size_t>(end));
    // The product of the requested dims, saturating (absurd dims must not wrap around into a match).
    long double knownL = 1;
    for (int64_t d : mid) knownL *= static_cast<long double>(d);
    int64_t known = knownL > 9.0e18L ? INT64_MAX : static_cast<int64_t>(knownL);
    if (infer >= 0) {
        if (known == 0 || vol % known) c.error(strcat("cannot infer -1: ", vol, " elements into ", listText(spec)));
        mid[static_cast<size_t>(infer)] = vol / known;
    } else if (known != vol) {
        c.error(strcat("shape ", listText(spec), " has ", knownL > 9.0e18L ? std::string("too many") : std::to_string(known),
                       " elements, the input ", tupleText(s), " part has ", vol));
    }
    std::vector<int64_t> shape(s.begin(), s.begin() + axis);
    shape.insert(shape.end(), mid.begin(), mid.end());
    shape.insert(shape.end(), s.begin() + end, s.end());
    return {c.reshapeTo(x, shape)};
}

Tensors permute(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    int64_t rank = rankOf(x);
    std::vector<int64_t> order = param(l, "permute_param").ints("order");
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    bool bad = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
    for (int64_t o : order) bad = bad || o >= rank;
    if (bad) c.error(strcat("permute order ", listText(order), " is invalid for rank ", rank));
    for (int64_t i = 0; i < rank; ++i)
        if (std::find(order.begin(), order.end(), i) == order.end()) order.push_back(i);
    bool identity = true;
    for (int64_t i = 0; i < rank; ++i) identity = identity && order[static_cast<size_t>(i)] == i;
    if (identity) return {c.add("Identity", {x}, Fields())};
    Fields f;
    f.ints("first_transpose", order);
    return {c.add("Shuffle", {x}, f)};
}

Tensors crop(Converter& c, const Layer& l) {
    Tensors xs = c.ins(l, 2);
    const Message& p = param(l, "crop_param");
    std::vector<int64_t> s = shapeOf(xs[0]), r = shapeOf(xs[1]);
    int64_t rank = static_cast<int64_t>(s.size());
    int64_t axis = p.getInt("axis") < 0 ? p.getInt("axis") + rank : p.getInt("axis");
    if (!(0 <= axis && axis < rank) || static_cast<int64_t>(r.size()) != rank)
        c.error(strcat("crop axis ", p.getInt("axis"), " / shapes ", tupleText(s), " ", tupleText(r), " are invalid"));
    std::vector<int64_t> offs = p.ints("offset");
    size_t n = static_cast<size_t>(rank - axis);
    if (offs.empty()) offs.assign(n, 0);
    else if (offs.size() == 1) offs.assign(n, offs[0]);
    else if (offs.size() != n) c.error(strcat(offs.size(), " offsets for ", n, " cropped dimensions"));
    std::vector<int64_t> size(r.begin() + axis, r.end());
    for (size_t i = 0; i < n; ++i)
        if (offs[i] + size[i] > s[static_cast<size_t>(axis) + i])
            c.error(strcat("offset ", offs[i], " + size ", size[i], " exceeds dimension ", axis + static_cast<int64_t>(i), " (",
                           s[static_cast<size_t>(axis) + i], ")"));
    Fields f;
    f.ints("start", offs).ints("size", size).ints("stride", std::vector<int64_t>(n, 1));
    return {c.add("Slice", {xs[0]}, f)};
}

Tensors argmax(Converter& c, const Layer& l) {
    ITensor* x = c.ins(l, 1)[0];
    const Message& p = param(l, "argmax_param");
    if (p.getInt("top_k") != 1)
        c.error(strcat("ArgMax with top_k = ", p.getInt("top_k"), " (only 1 is supported)"), ErrorCode::kUNSUPPORTED);
    if (p.getBool("out_max_val")) c.error("ArgMax with out_max_val is not supported", ErrorCode::kUNSUPPORTED);
    int64_t rank = rankOf(x);
    bool hasAxis = p.has("axis");
    ITensor* src = x;
    int64_t axis = 1;
    if (hasAxis) {
        axis = p.getInt("axis") < 0 ? p.getInt("axis") + rank : p.getInt("axis");
        if (!(0 <= axis && axis < rank)) c.error(strcat("axis ", p.getInt("axis"), " out of range for ", tupleText(shapeOf(x))));
    } else {   // over all of C*H*W per sample; output (N, 1, 1)
        Fields f;
        f.ints("reshape", {0, -1});
        src = c.add("Shuffle", {x}, f, "flat");
    }
    std::vector<int64_t> ss = shapeOf(src);
    int64_t n = ss[static_cast<size_t>(axis)];
    if (n > c.maxWeightElements())   // the index ramp is a constant of n values
        c.error(strcat("ArgMax over ", n, " values needs an index constant larger than max_weight_elements=", c.maxWeightElements()));
    Fields r;
    r.i("op", static_cast<int64_t>(ReduceOperation::kMAX)).ints("axes", {axis}).i("keep_dims", 1);
    ITensor* mx = c.add("Reduce", {src}, r, "max");
    ITensor* eq = eltwise(c, src, mx, ElementWiseOperation::kEQUAL, "eq");
    Fields cf;
    cf.i("to", static_cast<int64_t>(DataType::kFLOAT));
    ITensor* eqf = c.add("Cast", {eq}, cf, "cast");
    std::vector<float> ramp(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ramp[static_cast<size_t>(i)] = static_cast<float>(i);
    std::vector<int64_t> rshape{n};
    for (int64_t i = 0; i < static_cast<int64_t>(ss.size()) - axis - 1; ++i) rshape.push_back(1);
    Fields k;
    k.ints("shape", rshape).weights("weights", ramp.data(), n);
    ITensor* idx = c.add("Constant", {}, k, "index");
    ITensor* w = eltwise(c, eqf, idx, ElementWiseOperation::kPROD, "mul");
    // Caffe sorts (value, index) pairs descending: ties go to the largest index.
    ITensor* y = c.add("Reduce", {w}, r, hasAxis ? "" : "reduce");
    if (!hasAxis) {
        Fields f;
        f.ints("reshape", {0, 1, 1});
        y = c.add("Shuffle", {y}, f);
    }
    return {y};
}

Tensors silence(Converter& c, const Layer& l) {
    c.ins(l);
    return {};
}

}  // namespace

LayerFn findConverter(const std::string& type) {
    static const std::map<std::string, LayerFn> table = {
        {"Input", input}, {"Convolution", convolution}, {"Deconvolution", deconvolution}, {"InnerProduct", innerProduct},
        {"Pooling", pooling}, {"ReLU", relu}, {"PReLU", prelu}, {"Sigmoid", sigmoid}, {"TanH", tanhLayer}, {"ELU", elu},
        {"BNLL", bnll}, {"AbsVal", absval}, {"Power", power}, {"Exp", expLayer}, {"Log", logLayer}, {"LRN", lrn},
        {"BatchNorm", batchnorm}, {"Scale", scale}, {"Bias", biasLayer}, {"Eltwise", eltwiseLayer}, {"Concat", concat},
        {"Slice", slice}, {"Split", split}, {"Softmax", softmax}, {"Flatten", flatten}, {"Reshape", reshape},
        {"Permute", permute}, {"Dropout", passthrough}, {"Crop", crop}, {"ArgMax", argmax}, {"Silence", silence}};
    auto it = table.find(type);
    return it == table.end() ? nullptr : it->second;
}

}  // namespace caffe
}  // namespace gie
