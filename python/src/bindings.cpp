// gie._C: thin pybind11 bindings of the C++ API. Conveniences (numpy handling, typed layer helpers,
// logging, files) live in python/gie/*.py. The GIL is released around build and inference.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "gie/gie.h"
#include "gie/onnx_parser.h"
// ---- Caffe / Darknet importers (issue 16) ----
#include "gie/caffe_parser.h"
#include "gie/darknet_parser.h"
#include "parsers/darknet/darknet_cfg.h"   // readHead (exported for decode_region)
// ---- end Caffe / Darknet importers ----
#include "builder/calibration.h"           // calibrateNetworkNoThrow, entropyAmax, percentileAmax (exported for gie.calibrate)

namespace gie {
// Internal (engine/engine_file.cpp), exported for the bindings: see engine.h.
std::string summarizeEngine(const void* data, size_t size);
}
#include "plugin/plugin_check.h"  // checkPluginCreator (exported for `gie plugin check`)
#include "plugin/registry.h"      // pluginCreatorOrigin / setPluginCreatorOrigin (exported)
#include "engine/tactic_architecture.h"  // tacticArchitecture (header-only)

namespace py = pybind11;
using namespace gie;

namespace {

// dict ErrorCode(int) -> exception class, set by gie/errors.py. Leaked on purpose: a static py::object
// would be released after the interpreter is gone.
py::object* gErrorClasses = nullptr;

//! A str from UTF-8 text that may not be valid (names and bytes quoted from an engine file): invalid bytes become
//! U+FFFD instead of a UnicodeDecodeError replacing gie's answer.
py::object lenientStr(const std::string& text) {
    py::object s = py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
    if (!s) throw py::error_already_set();
    return s;
}

[[noreturn]] void raiseLast(const std::string& fallback) {
    const char* msg = nullptr;
    ErrorCode code = getLastError(&msg);
    std::string text = msg && *msg ? std::string(msg) : fallback;
    if (code == ErrorCode::kSUCCESS) code = ErrorCode::kINTERNAL;
    py::object cls = py::reinterpret_borrow<py::object>(PyExc_RuntimeError);
    if (gErrorClasses && gErrorClasses->contains(py::int_(static_cast<int>(code)))) cls = (*gErrorClasses)[py::int_(static_cast<int>(code))];
    py::object msgObj = lenientStr(text);  // messages may quote bytes from an engine file
    PyErr_SetObject(cls.ptr(), msgObj.ptr());
    throw py::error_already_set();
}

//! Raises gie.InvalidArgumentError (a bad value from Python, found before calling gie).
[[noreturn]] void raiseInvalid(const std::string& message) {
    setLastError(ErrorCode::kINVALID_ARGUMENT, message.c_str());
    raiseLast(message);
}

//! A Python int as int64, or gie.InvalidArgumentError naming `what` (bool, float, None, out of range).
int64_t toInt64(py::handle v, const std::string& what) {
    if (PyBool_Check(v.ptr()) || !PyIndex_Check(v.ptr()))
        raiseInvalid(what + " must be an integer, not " + std::string(py::str(py::type::handle_of(v).attr("__name__"))) + " " +
                     std::string(py::repr(v)));
    py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
    if (!i) throw py::error_already_set();
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
    if (overflow) raiseInvalid(what + " is " + std::string(py::repr(i)) + ", outside the 64-bit signed range");
    if (x == -1 && PyErr_Occurred()) throw py::error_already_set();
    return static_cast<int64_t>(x);
}

template <typename T>
T* check(T* p, const std::string& what) {
    if (!p) raiseLast(what + " failed");
    return p;
}
void check(bool ok, const std::string& what) {
    if (!ok) raiseLast(what + " failed");
}

//! Forwards log lines to a Python callable(severity:int, message:str).
class PyLogger final : public ILogger {
public:
    explicit PyLogger(py::function fn) : fn_(std::move(fn)) {}
    ~PyLogger() override {
        py::gil_scoped_acquire gil;
        fn_ = py::function();
    }
    void log(Severity s, const char* msg) noexcept override {
        py::gil_scoped_acquire gil;
        try {
            std::string text(msg ? msg : "");
            fn_(static_cast<int>(s), lenientStr(text));
        } catch (py::error_already_set& e) {
            e.discard_as_unraisable("gie logger");
        }
    }

private:
    py::function fn_;
};

class PyProfiler final : public IProfiler {
public:
    explicit PyProfiler(py::function fn) : fn_(std::move(fn)) {}
    void reportLayerTime(const char* name, float ms) noexcept override {
        py::gil_scoped_acquire gil;
        try {
            fn_(std::string(name), ms);
        } catch (py::error_already_set& e) {
            e.discard_as_unraisable("gie profiler");
        }
    }

private:
    py::function fn_;
};

//! An index into `count` items ("layers", ...), or gie.InvalidArgumentError naming `what`.
int32_t index(py::handle i, int32_t count, const std::string& what, const char* items) {
    int64_t v = toInt64(i, what + ": index");
    if (v < 0 || v >= count)
        raiseInvalid(what + ": index " + std::to_string(v) + " is out of range (" + std::to_string(count) + " " + items + ")");
    return static_cast<int32_t>(v);
}

//! A shape from any sequence of ints (list, tuple, numpy array), or gie.InvalidArgumentError naming `what`.
Dims toDims(py::handle shape, const std::string& what) {
    if (!PySequence_Check(shape.ptr()) || py::isinstance<py::str>(shape) || py::isinstance<py::bytes>(shape))
        raiseInvalid(what + " must be a sequence of integers, not " + std::string(py::str(py::type::handle_of(shape).attr("__name__"))) +
                     " " + std::string(py::repr(shape)));
    py::sequence seq = py::reinterpret_borrow<py::sequence>(shape);
    size_t n = seq.size();
    if (n > static_cast<size_t>(Dims::MAX_DIMS))
        raiseInvalid(what + " has " + std::to_string(n) + " dimensions; at most " + std::to_string(Dims::MAX_DIMS) + " are supported");
    std::vector<int64_t> v;
    for (size_t i = 0; i < n; ++i) v.push_back(toInt64(seq[i], what + " dimension " + std::to_string(i)));
    return makeDims(static_cast<int32_t>(v.size()), v.data());
}
std::vector<int64_t> fromDims(const Dims& d) {
    if (d.nbDims < 0) raiseLast("shape inference failed");
    return std::vector<int64_t>(d.d, d.d + d.nbDims);
}

//! Holds the storage behind a PluginFieldCollection built from a Python dict.
struct FieldStorage {
    std::vector<std::string> names;
    std::vector<py::array> arrays;
    std::vector<std::string> strings;
    std::vector<PluginField> fields;
    PluginFieldCollection fc;
};

PluginField toField(const std::string& name, py::handle value, FieldStorage& st, const char** namePtr) {
    PluginField f;
    f.name = *namePtr;
    if (py::isinstance<py::str>(value)) {
        st.strings.push_back(value.cast<std::string>());
        f.data = st.strings.back().data();
        f.type = PluginFieldType::kCHAR;
        f.length = static_cast<int64_t>(st.strings.back().size());
        return f;
    }
    py::array arr = py::array::ensure(value);
    if (!arr) {
        PyErr_Clear();
        raiseInvalid("field '" + name + "' must be a number, a sequence of numbers, an array or a string");
    }
    py::dtype dt = arr.dtype();
    char kind = dt.kind();
    py::array c;
    if (kind == 'f' && dt.itemsize() == 2) {
        c = py::array_t<uint16_t, py::array::c_style | py::array::forcecast>(arr.attr("view")("uint16"));
        f.type = PluginFieldType::kFLOAT16;
    } else if (kind == 'f') {
        c = py::array_t<float, py::array::c_style | py::array::forcecast>(arr);
        f.type = PluginFieldType::kFLOAT32;
    } else if (kind == 'i' && dt.itemsize() == 1) {
        c = py::array_t<int8_t, py::array::c_style | py::array::forcecast>(arr);
        f.type = PluginFieldType::kINT8;
    } else if (kind == 'i' && dt.itemsize() == 4) {
        c = py::array_t<int32_t, py::array::c_style | py::array::forcecast>(arr);
        f.type = PluginFieldType::kINT32;
    } else if (kind == 'i' || kind == 'u' || kind == 'b') {
        c = py::array_t<int64_t, py::array::c_style | py::array::forcecast>(arr);
        f.type = PluginFieldType::kINT64;
    } else {
        raiseInvalid("field '" + name + "' has unsupported dtype " + std::string(py::str(dt)) + " (use numbers or a string)");
    }
    st.arrays.push_back(c);
    f.data = c.data();
    f.length = static_cast<int64_t>(c.size());
    return f;
}

std::unique_ptr<FieldStorage> toFields(const py::dict& d) {
    auto st = std::make_unique<FieldStorage>();
    st->names.reserve(d.size());
    st->strings.reserve(d.size());
    for (auto item : d) st->names.push_back(item.first.cast<std::string>());
    size_t i = 0;
    for (auto item : d) {
        const char* np = st->names[i].c_str();
        st->fields.push_back(toField(st->names[i], item.second, *st, &np));
        ++i;
    }
    st->fc.nbFields = static_cast<int32_t>(st->fields.size());
    st->fc.fields = st->fields.data();
    return st;
}

py::object fieldToPython(const PluginField& f) {
    switch (f.type) {
        case PluginFieldType::kCHAR: return py::str(static_cast<const char*>(f.data), static_cast<size_t>(f.length));
        case PluginFieldType::kFLOAT32: return py::array_t<float>(f.length, static_cast<const float*>(f.data));
        case PluginFieldType::kFLOAT64: return py::array_t<double>(f.length, static_cast<const double*>(f.data));
        case PluginFieldType::kFLOAT16: {
            py::array_t<uint16_t> raw(f.length, static_cast<const uint16_t*>(f.data));
            return raw.attr("view")("float16");
        }
        case PluginFieldType::kINT8: return py::array_t<int8_t>(f.length, static_cast<const int8_t*>(f.data));
        case PluginFieldType::kINT16: return py::array_t<int16_t>(f.length, static_cast<const int16_t*>(f.data));
        case PluginFieldType::kINT32: return py::array_t<int32_t>(f.length, static_cast<const int32_t*>(f.data));
        case PluginFieldType::kINT64: return py::array_t<int64_t>(f.length, static_cast<const int64_t*>(f.data));
        default: return py::none();
    }
}

// ---- Python plugins (issue 17): gie.Plugin subclasses behind IPlugin / IPluginCreator ----
// Every method takes the GIL (gie calls them from threads that released it: build, execute, plugin check) and
// turns a Python exception into gie's last error, naming the plugin and the layer; nothing Python crosses into gie.

//! Whether Python objects may still be touched: not after (or during) interpreter shutdown, when engines owned by
//! module globals are destroyed; their Python objects are then leaked rather than released.
bool pythonAlive() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsInitialized() && !Py_IsFinalizing();
#else
    return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

py::object pluginsModule() { return py::module_::import("gie.plugins"); }

//! Records the Python exception `e` as gie's last error: a gie.Error keeps its kind, others get `fallback`.
void recordPythonError(py::error_already_set& e, ErrorCode fallback, const std::string& where) {
    ErrorCode code = fallback;
    std::string text;
    try {
        int c = pluginsModule().attr("_error_code")(e.value()).cast<int>();
        if (c > 0) code = static_cast<ErrorCode>(c);
        text = py::str(e.type().attr("__name__")).cast<std::string>() + ": " + py::str(e.value()).cast<std::string>();
    } catch (...) {
        text = e.what();
    }
    setLastError(code, (where + ": " + text).c_str());
}

py::dtype numpyDtype(DataType t) {
    switch (t) {
        case DataType::kFLOAT: return py::dtype::of<float>();
        case DataType::kHALF: return py::dtype("float16");
        case DataType::kINT8: return py::dtype::of<int8_t>();
        case DataType::kINT32: return py::dtype::of<int32_t>();
        case DataType::kBOOL: return py::dtype::of<bool>();
    }
    return py::dtype::of<float>();
}

class PyPluginCreator;

class PyPlugin final : public IPlugin {
public:
    PyPlugin(const PyPluginCreator& c, py::object obj, int32_t nbOutputs, std::string layer)
        : c_(c), obj_(std::move(obj)), nbOutputs_(nbOutputs), layer_(std::move(layer)) {}
    ~PyPlugin() override {
        if (pythonAlive()) {
            py::gil_scoped_acquire gil;
            obj_ = py::object();
        } else {
            obj_.release();
        }
    }
    const char* getPluginType() const noexcept override;
    const char* getPluginVersion() const noexcept override;
    IPlugin* clone() const noexcept override;
    int32_t getNbOutputs() const noexcept override { return nbOutputs_; }
    int32_t getOutputDimensions(const Dims* inputs, int32_t nbInputs, Dims* outputs) const noexcept override {
        return call(ErrorCode::kINVALID_MODEL, "output_shapes", -1, [&] {
            py::list shapes;
            for (int32_t i = 0; i < nbInputs; ++i) shapes.append(py::tuple(py::cast(std::vector<int64_t>(inputs[i].d, inputs[i].d + inputs[i].nbDims))));
            auto out = pluginsModule().attr("_output_shapes")(obj_, shapes).cast<std::vector<std::vector<int64_t>>>();
            for (size_t o = 0; o < out.size(); ++o) {
                if (out[o].size() > static_cast<size_t>(Dims::MAX_DIMS)) throw std::length_error("an output shape has more than 8 dimensions");
                outputs[o] = makeDims(static_cast<int32_t>(out[o].size()), out[o].data());
            }
            return 0;
        });
    }
    int32_t getOutputDataTypes(const DataType* inputs, int32_t nbInputs, DataType* outputs) const noexcept override {
        return call(ErrorCode::kINVALID_MODEL, "output_dtypes", -1, [&] {
            std::vector<int> in;
            for (int32_t i = 0; i < nbInputs; ++i) in.push_back(static_cast<int>(inputs[i]));
            auto out = pluginsModule().attr("_output_types")(obj_, in).cast<std::vector<int>>();
            for (size_t o = 0; o < out.size(); ++o) outputs[o] = static_cast<DataType>(out[o]);
            return 0;
        });
    }
    bool supportsFormatCombination(int32_t pos, const TensorDesc* inOut, int32_t nbInputs, int32_t) const noexcept override {
        // Channels-last padded formats (HWC8) would need the padding channels written: numpy views cannot show them.
        if (inOut[pos].format != TensorFormat::kLINEAR && inOut[pos].format != TensorFormat::kNHWC) return false;
        return call(ErrorCode::kINVALID_MODEL, "supports_format", false, [&] {
            py::list descs;  // positions 0..pos only: the answer may not depend on later ones
            for (int32_t i = 0; i <= pos; ++i) descs.append(py::make_tuple(static_cast<int>(inOut[i].type), static_cast<int>(inOut[i].format)));
            return pluginsModule().attr("_supports")(obj_, pos, descs, nbInputs).cast<bool>();
        });
    }
    //! enqueue is not told the number of inputs: configure (called on every instance before it) is.
    int32_t configure(const TensorDesc*, int32_t nbInputs, const TensorDesc*, int32_t) noexcept override {
        nbInputs_ = nbInputs;
        return 0;
    }
    //! What gie calls: the plugin's configure(inputs, outputs) sees each tensor's planned shape and its min/max over
    //! the engine's profiles.
    int32_t configureWithRange(const DynamicTensorDesc* in, int32_t nbInputs, const DynamicTensorDesc* out, int32_t nbOutputs) noexcept override {
        nbInputs_ = nbInputs;
        return call(ErrorCode::kINVALID_MODEL, "configure", -1, [&] {
            auto dims = [](const Dims& d) { return py::tuple(py::cast(std::vector<int64_t>(d.d, d.d + std::max(d.nbDims, 0)))); };
            auto list = [&](const DynamicTensorDesc* d, int32_t n) {
                py::list l;
                for (int32_t i = 0; i < n; ++i)
                    l.append(py::make_tuple(dims(d[i].desc.dims), dims(d[i].min), dims(d[i].max), static_cast<int>(d[i].desc.type),
                                            static_cast<int>(d[i].desc.format)));
                return l;
            };
            pluginsModule().attr("_configure")(obj_, list(in, nbInputs), list(out, nbOutputs));
            return 0;
        });
    }
    int32_t enqueue(const TensorDesc* inputDesc, const TensorDesc* outputDesc, const void* const* inputs, void* const* outputs, void*,
                    void* stream) const noexcept override;
    size_t getSerializationSize() const noexcept override {
        return call(ErrorCode::kINTERNAL, "serialize", size_t{0}, [&] { return serialized().size(); });
    }
    void serialize(void* buffer) const noexcept override {
        call(ErrorCode::kINTERNAL, "serialize", 0, [&] {
            std::string b = serialized();
            std::memcpy(buffer, b.data(), b.size());
            return 0;
        });
    }

private:
    std::string serialized() const { return pluginsModule().attr("_serialize")(obj_).cast<std::string>(); }
    std::string where() const;
    //! fn() with the GIL; a Python (or C++) exception becomes gie's last error and `onError`.
    template <typename R, typename F>
    R call(ErrorCode fallback, const char* what, R onError, F&& fn) const noexcept {
        if (!pythonAlive()) {
            setLastError(ErrorCode::kINTERNAL, (where() + ": the Python interpreter has shut down").c_str());
            return onError;
        }
        py::gil_scoped_acquire gil;
        try {
            return fn();
        } catch (py::error_already_set& e) {
            recordPythonError(e, fallback, where() + " (" + what + ")");
        } catch (const std::exception& e) {
            setLastError(fallback, (where() + " (" + what + "): " + e.what()).c_str());
        }
        return onError;
    }

    const PyPluginCreator& c_;
    py::object obj_;
    int32_t nbOutputs_;
    int32_t nbInputs_ = -1;
    std::string layer_;
};

class PyPluginCreator final : public IPluginCreator {
public:
    PyPluginCreator(py::object cls, std::string name, std::string version, DeviceType device,
                    const std::vector<std::pair<std::string, std::string>>& fields)
        : cls(std::move(cls)), name(std::move(name)), version(std::move(version)), device(device) {
        for (const auto& f : fields) fieldNames_.push_back(f.first);
        for (size_t i = 0; i < fields.size(); ++i) {
            PluginField pf;
            pf.name = fieldNames_[i].c_str();
            const std::string& kind = fields[i].second;
            pf.type = kind == "str" ? PluginFieldType::kCHAR : kind == "float" ? PluginFieldType::kFLOAT32 : PluginFieldType::kINT64;
            fields_.push_back(pf);
        }
        fc_.nbFields = static_cast<int32_t>(fields_.size());
        fc_.fields = fields_.data();
    }
    const char* getPluginName() const noexcept override { return name.c_str(); }
    const char* getPluginVersion() const noexcept override { return version.c_str(); }
    DeviceType getDeviceType() const noexcept override { return device; }
    const PluginFieldCollection* getFieldNames() noexcept override { return &fc_; }
    IPlugin* createPlugin(const char* layerName, const PluginFieldCollection* fields) noexcept override {
        return make(layerName, ErrorCode::kINVALID_ARGUMENT, [&] {
            py::dict d;
            for (int32_t i = 0; fields && i < fields->nbFields; ++i)
                if (fields->fields[i].name) d[py::str(fields->fields[i].name)] = fieldToPython(fields->fields[i]);
            return pluginsModule().attr("_create")(cls, d);
        });
    }
    IPlugin* deserializePlugin(const char* layerName, const void* data, size_t length) noexcept override {
        return make(layerName, ErrorCode::kINVALID_ENGINE, [&] {
            return pluginsModule().attr("_deserialize")(cls, py::bytes(static_cast<const char*>(data ? data : ""), data ? length : 0));
        });
    }
    //! A PyPlugin around obj (clone and the creator's methods); nullptr with the error recorded on failure.
    template <typename F>
    IPlugin* make(const char* layerName, ErrorCode fallback, F&& newObject) const noexcept {
        const std::string layer = layerName ? layerName : "";
        if (!pythonAlive()) {
            setLastError(ErrorCode::kINTERNAL, ("Python plugin '" + name + "': the Python interpreter has shut down").c_str());
            return nullptr;
        }
        py::gil_scoped_acquire gil;
        try {
            py::object obj = newObject();
            const int32_t nb = obj.attr("num_outputs").cast<int32_t>();
            return new PyPlugin(*this, std::move(obj), nb, layer);
        } catch (py::error_already_set& e) {
            recordPythonError(e, fallback, "Python plugin '" + name + "' layer '" + layer + "'");
        } catch (const std::exception& e) {
            setLastError(fallback, ("Python plugin '" + name + "' layer '" + layer + "': " + e.what()).c_str());
        }
        return nullptr;
    }

    py::object cls;  // never released: creators live until the process ends (engines may use them)
    const std::string name, version;
    const DeviceType device;

private:
    std::vector<std::string> fieldNames_;
    std::vector<PluginField> fields_;
    PluginFieldCollection fc_;
};

const char* PyPlugin::getPluginType() const noexcept { return c_.name.c_str(); }
const char* PyPlugin::getPluginVersion() const noexcept { return c_.version.c_str(); }
std::string PyPlugin::where() const { return "Python plugin '" + c_.name + "' layer '" + layer_ + "'"; }
IPlugin* PyPlugin::clone() const noexcept {
    return c_.make(layer_.c_str(), ErrorCode::kINTERNAL, [&] { return pluginsModule().attr("_clone")(obj_); });
}

int32_t PyPlugin::enqueue(const TensorDesc* inputDesc, const TensorDesc* outputDesc, const void* const* inputs, void* const* outputs, void*,
                          void* stream) const noexcept {
    const bool gpu = c_.device == DeviceType::kGPU;
    return call(ErrorCode::kINTERNAL, "enqueue", -1, [&] {
        auto view = [&](const TensorDesc& d, const void* ptr, bool readonly) -> py::object {
            const int64_t item = dataTypeSize(d.type);
            std::vector<int64_t> shape(d.dims.d, d.dims.d + d.dims.nbDims), strides(static_cast<size_t>(d.dims.nbDims));
            const bool given = d.strides.nbDims == d.dims.nbDims;  // else packed
            int64_t acc = 1;
            for (int32_t i = d.dims.nbDims - 1; i >= 0; --i) {
                strides[static_cast<size_t>(i)] = (given ? d.strides.d[i] : acc) * item;
                acc *= d.dims.d[i];
            }
            if (gpu)
                return py::make_tuple(reinterpret_cast<uintptr_t>(ptr), py::tuple(py::cast(shape)), py::tuple(py::cast(strides)),
                                      numpyDtype(d.type).attr("str"));
            py::array a(numpyDtype(d.type), shape, strides, ptr, py::capsule(ptr, [](void*) {}));
            if (readonly) a.attr("setflags")(py::arg("write") = false);
            return std::move(a);
        };
        py::list ins, outs;
        if (nbInputs_ < 0) throw std::logic_error("enqueue before configure");
        for (int32_t i = 0; i < nbInputs_; ++i) ins.append(view(inputDesc[i], inputs[i], true));
        for (int32_t o = 0; o < nbOutputs_; ++o) outs.append(view(outputDesc[o], outputs[o], false));
        pluginsModule().attr("_enqueue")(obj_, ins, outs, reinterpret_cast<uintptr_t>(stream), gpu);
        return 0;
    });
}
// ---- end Python plugins ----

struct Builder {
    std::shared_ptr<PyLogger> logger;
    std::unique_ptr<IBuilder> builder;
};

struct Engine {
    std::shared_ptr<PyLogger> logger;  // outlives the engine
    std::unique_ptr<IEngine> engine;
};

struct Context {
    std::shared_ptr<Engine> engine;  // keeps the engine alive
    std::unique_ptr<IExecutionContext> ctx;
    std::unique_ptr<PyProfiler> profiler;
};

struct Refitter {
    std::shared_ptr<Engine> engine;  // outlives the refitter
    std::unique_ptr<IRefitter> refitter;
};

struct Runtime {
    std::shared_ptr<PyLogger> logger;
    std::unique_ptr<IRuntime> runtime;
};


//! Forwards gie's device allocations to a Python object with allocate(size, alignment) -> int and
//! deallocate(ptr). gie calls it from threads that released the GIL, so every call takes it. Python errors
//! never cross into gie: they are reported through sys.unraisablehook and allocate returns nullptr (gie then
//! fails with OutOfMemoryError). Trampolines are never deleted (gie may return memory after another allocator
//! was installed); the Python object is dropped once uninstalled with none of its allocations outstanding.
class PyGpuAllocator final : public IGpuAllocator {
public:
    explicit PyGpuAllocator(py::object obj) : obj_(std::move(obj)) {}
    void* allocate(size_t size, size_t alignment) noexcept override {
        if (!pythonUsable()) return nullptr;
        py::gil_scoped_acquire gil;
        if (!obj_) return nullptr;
        try {
            py::object r = obj_.attr("allocate")(size, alignment);
            if (r.is_none()) return nullptr;
            auto p = r.cast<uintptr_t>();
            if (p == 0) return nullptr;
            if (alignment && p % alignment != 0) {
                // Unusable: give it back and report, rather than let kernels fault on misaligned memory.
                PyErr_SetString(PyExc_ValueError, ("the GPU allocator returned a pointer not aligned to " + std::to_string(alignment) + " bytes").c_str());
                PyErr_WriteUnraisable(obj_.ptr());
                obj_.attr("deallocate")(p);
                return nullptr;
            }
            std::lock_guard<std::mutex> lock(mutex_);
            live_.insert(p);
            return reinterpret_cast<void*>(p);
        } catch (py::error_already_set& e) {
            e.discard_as_unraisable("gie GPU allocator (allocate)");
        } catch (const std::exception& e) {
            PyErr_SetString(PyExc_TypeError, (std::string("the GPU allocator's allocate() must return an int device pointer: ") + e.what()).c_str());
            PyErr_WriteUnraisable(obj_.ptr());
        }
        return nullptr;
    }
    void deallocate(void* memory) noexcept override {
        if (!memory || !pythonUsable()) return;  // at interpreter exit: leak rather than crash
        py::gil_scoped_acquire gil;
        if (obj_) {
            try {
                obj_.attr("deallocate")(reinterpret_cast<uintptr_t>(memory));
            } catch (py::error_already_set& e) {
                e.discard_as_unraisable("gie GPU allocator (deallocate)");
            }
        }
        bool empty;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            live_.erase(reinterpret_cast<uintptr_t>(memory));
            empty = live_.empty();
        }
        if (empty && !installed_) obj_ = py::object();
    }
    //! Called with the GIL held.
    void uninstall() {
        installed_ = false;
        bool empty;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            empty = live_.empty();
        }
        if (empty) obj_ = py::object();  // outside the lock: dropping it may run Python code
    }
    py::object object() const { return obj_; }

private:
    static bool pythonUsable() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
        return Py_IsInitialized() && !Py_IsFinalizing();
#else
        return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
    }
    py::object obj_;  // touched only with the GIL held
    std::mutex mutex_;
    std::unordered_set<uintptr_t> live_;
    std::atomic<bool> installed_{true};
};

std::mutex gAllocMutex;
std::deque<PyGpuAllocator*>* gAllocators = nullptr;  // leaked on purpose (see PyGpuAllocator)
PyGpuAllocator* gCurrentAllocator = nullptr;

//! A consumed DLPack capsule ("dltensor", renamed "used_dltensor"); the producer's deleter runs when
//! this object goes away, so keep it alive as long as the memory is used.
struct DLDeviceS { int32_t device_type; int32_t device_id; };
struct DLDataTypeS { uint8_t code; uint8_t bits; uint16_t lanes; };
struct DLTensorS {
    void* data;
    DLDeviceS device;
    int32_t ndim;
    DLDataTypeS dtype;
    int64_t* shape;
    int64_t* strides;
    uint64_t byte_offset;
};
struct DLManagedTensorS {
    DLTensorS dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensorS* self);
};

struct DLPackTensor {
    DLManagedTensorS* managed = nullptr;
    ~DLPackTensor() {
        if (managed && managed->deleter) managed->deleter(managed);
    }
};

template <typename T>
using NoDelete = std::unique_ptr<T, py::nodelete>;

}  // namespace

// ---- Caffe / Darknet importers (issue 16): thin bindings; python/gie/parsers/*.py keep the Python API ----------
namespace {

//! Raises the parse failure: the thread's last error (the summary of every record).
[[noreturn]] void raiseParse(const std::string& what) { raiseLast(what + " failed"); }

py::list parserErrors(int32_t n, const std::function<const IParserError*(int32_t)>& get) {
    py::list out;
    for (int32_t i = 0; i < n; ++i) {
        const IParserError* e = get(i);
        out.append(py::make_tuple(static_cast<int>(e->code()), lenientStr(e->desc()), lenientStr(e->nodeName()), lenientStr(e->nodeOpType())));
    }
    return out;
}

struct PyDarknetImporter {
    std::shared_ptr<PyLogger> logger;
    std::unique_ptr<IDarknetParser> parser;
};

struct PyCaffeImporter {
    std::shared_ptr<PyLogger> logger;
    std::unique_ptr<ICaffeParser> parser;
};

//! A plugin field from a Python value already converted by gie.network._to_field (str or numpy array).
void setCaffePluginField(ICaffeParser& p, const std::string& key, const std::string& name, py::handle value) {
    PluginField f;
    f.name = name.c_str();
    std::string text;
    py::array arr;
    if (py::isinstance<py::str>(value)) {
        text = value.cast<std::string>();
        f.type = PluginFieldType::kCHAR;
        f.data = text.data();
        f.length = static_cast<int64_t>(text.size());
    } else {
        arr = py::array::ensure(value, py::array::c_style);
        if (!arr) raiseInvalid("plugin_fields['" + key + "']['" + name + "']: not an array or a string");
        char kind = arr.dtype().kind();
        if (kind == 'f' && arr.itemsize() == 4) f.type = PluginFieldType::kFLOAT32;
        else if (kind == 'f' && arr.itemsize() == 8) f.type = PluginFieldType::kFLOAT64;
        else if (kind == 'f' && arr.itemsize() == 2) f.type = PluginFieldType::kFLOAT16;
        else if ((kind == 'i' || kind == 'u') && arr.itemsize() == 8) f.type = PluginFieldType::kINT64;
        else if ((kind == 'i' || kind == 'u') && arr.itemsize() == 4) f.type = PluginFieldType::kINT32;
        else if ((kind == 'i' || kind == 'u' || kind == 'b') && arr.itemsize() == 1) f.type = PluginFieldType::kINT8;
        else raiseInvalid("plugin_fields['" + key + "']['" + name + "']: unsupported dtype");
        f.data = arr.data();
        f.length = static_cast<int64_t>(arr.size());
    }
    PluginFieldCollection fc;
    fc.nbFields = 1;
    fc.fields = &f;
    if (!p.setPluginFields(key.c_str(), &fc)) raiseLast("plugin_fields");
}

void bindCaffeDarknetImporters(py::module_& m) {
    m.def("_darknet_sections", [](py::bytes cfg) {
        std::string text = cfg;
        std::vector<darknet::Section> secs;
        if (!darknet::readSectionsNoThrow(text, &secs)) raiseLast("read_cfg");
        py::list out;
        for (const auto& s : secs) {
            py::dict opts;
            for (const auto& kv : s.options) opts[lenientStr(kv.first)] = lenientStr(kv.second);
            out.append(py::make_tuple(s.index, s.kind, opts));
        }
        return out;
    });
    m.def("_darknet_head", [](py::bytes cfg, int64_t layer) {
        std::string text = cfg;
        darknet::HeadParams h;
        if (!darknet::readHeadNoThrow(text, layer, &h)) raiseLast("decode_region");
        py::dict d;
        d["kind"] = h.kind;
        d["index"] = h.index;
        d["width"] = h.width;
        d["height"] = h.height;
        d["classes"] = h.classes;
        d["num"] = h.num;
        d["coords"] = h.coords;
        d["softmax"] = h.softmax;
        d["anchors"] = h.anchors;
        d["mask"] = h.mask;
        d["scale_x_y"] = h.scaleXY;
        return d;
    });
    py::class_<PyDarknetImporter>(m, "_DarknetImporter")
        .def(py::init([](INetworkDefinition& net, py::function log) {
            auto p = std::make_unique<PyDarknetImporter>();
            p->logger = std::make_shared<PyLogger>(std::move(log));
            p->parser.reset(check(createDarknetParser(net, *p->logger), "createDarknetParser"));
            return p;
        }), py::keep_alive<1, 2>())
        .def("set_options", [](PyDarknetImporter& p, uint64_t seed, int64_t batch, const std::string& inputName) {
            p.parser->setSeed(seed);
            check(p.parser->setBatch(batch), "batch");
            check(p.parser->setInputName(inputName.c_str()), "input_name");
        })
        .def("parse", [](PyDarknetImporter& p, py::bytes cfg, py::object weights) {
            std::string text = cfg;
            std::string w;
            bool haveWeights = !weights.is_none();
            if (haveWeights) w = weights.cast<py::bytes>();
            bool ok;
            {
                py::gil_scoped_release nogil;
                ok = p.parser->parse(text.data(), text.size(), haveWeights ? (w.empty() ? "" : w.data()) : nullptr, w.size());
            }
            if (!ok) raiseParse("darknet import");
        })
        .def_property_readonly("errors", [](PyDarknetImporter& p) {
            return parserErrors(p.parser->getNbErrors(), [&](int32_t i) { return p.parser->getError(i); });
        })
        .def_property_readonly("heads", [](PyDarknetImporter& p) {
            py::list out;
            for (int32_t i = 0; i < p.parser->getNbHeads(); ++i) {
                const char* name = nullptr;
                const char* kind = nullptr;
                int32_t index = 0;
                p.parser->getHead(i, &name, &kind, &index);
                out.append(py::make_tuple(std::string(name), std::string(kind), index));
            }
            return out;
        });

    py::class_<PyCaffeImporter>(m, "_CaffeImporter")
        .def(py::init([](INetworkDefinition& net, py::function log) {
            auto p = std::make_unique<PyCaffeImporter>();
            p->logger = std::make_shared<PyLogger>(std::move(log));
            p->parser.reset(check(createCaffeParser(net, *p->logger), "createCaffeParser"));
            return p;
        }), py::keep_alive<1, 2>())
        .def("set_options", [](PyCaffeImporter& p, uint64_t seed, int64_t batch, py::object outputs, int64_t maxWeightElements) {
            p.parser->setSeed(seed);
            check(p.parser->setBatch(batch), "batch");
            check(p.parser->setMaxWeightElements(maxWeightElements), "max_weight_elements");
            if (!outputs.is_none()) {
                std::vector<std::string> names = outputs.cast<std::vector<std::string>>();
                std::vector<const char*> ptrs;
                for (const auto& n : names) ptrs.push_back(n.c_str());
                check(p.parser->setOutputs(ptrs.data(), static_cast<int32_t>(ptrs.size())), "outputs");
            }
        })
        .def("set_plugin_field", [](PyCaffeImporter& p, const std::string& key, const std::string& name, py::handle value) {
            setCaffePluginField(*p.parser, key, name, value);
        })
        .def("parse", [](PyCaffeImporter& p, py::bytes prototxt, py::object caffemodel, const std::string& name) {
            std::string text = prototxt;
            std::string model;
            bool haveModel = !caffemodel.is_none();
            if (haveModel) model = caffemodel.cast<py::bytes>();
            bool ok;
            {
                py::gil_scoped_release nogil;
                ok = p.parser->parse(text.data(), text.size(), haveModel ? (model.empty() ? "" : model.data()) : nullptr,
                                     model.size(), name.c_str());
            }
            if (!ok) raiseParse("caffe import");
        })
        .def_property_readonly("errors", [](PyCaffeImporter& p) {
            return parserErrors(p.parser->getNbErrors(), [&](int32_t i) { return p.parser->getError(i); });
        })
        .def("blobs", [](PyCaffeImporter& p) {
            py::dict out;
            for (int32_t i = 0; i < p.parser->getNbBlobLayers(); ++i) {
                const char* layer = p.parser->getBlobLayerName(i);
                py::list arrays;
                for (int32_t j = 0; j < p.parser->getNbBlobs(layer); ++j) {
                    Dims d;
                    const float* data = p.parser->getBlob(layer, j, &d);
                    std::vector<py::ssize_t> shape(d.d, d.d + d.nbDims);
                    py::array_t<float> a(shape);
                    std::memcpy(a.mutable_data(), data, static_cast<size_t>(a.size()) * sizeof(float));
                    arrays.append(a);
                }
                out[py::str(layer)] = arrays;
            }
            return out;
        });
}

}  // namespace
// ---- end Caffe / Darknet importers ----

// ---- INT8 calibration (issue 14): the IInt8Calibrator over a Python calibrator, gie.calibrate ---------------
namespace {

//! An IInt8Calibrator over gie.calibration._Bridge, which calls the user's Python calibrator, checks what it
//! returns and raises gie.Error (never anything else) on a problem; here that becomes the recorded error the
//! C++ interface expects (gie::setLastError + a failure value), so that the build fails with the same code and
//! message. Called from the building thread with the GIL released: each call takes it.
class PyInt8Calibrator final : public IInt8Calibrator {
public:
    explicit PyInt8Calibrator(py::object bridge) : bridge_(std::move(bridge)) {}
    ~PyInt8Calibrator() override {
        py::gil_scoped_acquire gil;
        bridge_ = py::object();
    }
    py::object bridge() const { return bridge_; }

    int32_t getBatchSize() const noexcept override {
        return call(-1, [&] { return bridge_.attr("batch_size")().cast<int32_t>(); });
    }
    bool getBatch(void* const* bindings, const char* const* names, const TensorDesc* inputs, int32_t n) noexcept override {
        return call(false, [&] {
            py::list pyNames, shapes, dtypes;
            for (int32_t i = 0; i < n; ++i) {
                pyNames.append(py::str(names[i]));
                shapes.append(py::tuple(py::cast(fromDims(inputs[i].dims))));
                dtypes.append(py::str(inputs[i].type == DataType::kINT32 ? "int32" : inputs[i].type == DataType::kBOOL ? "bool" : "float32"));
            }
            py::object arrays = bridge_.attr("batch")(pyNames, shapes, dtypes);
            if (arrays.is_none()) return false;
            py::list list = arrays.cast<py::list>();
            for (int32_t i = 0; i < n; ++i) {
                py::array a = list[static_cast<size_t>(i)].cast<py::array>();
                int64_t bytes = dataTypeSize(inputs[i].type);
                for (int d = 0; d < inputs[i].dims.nbDims; ++d) bytes *= inputs[i].dims.d[d];
                if (a.nbytes() != bytes || !(a.flags() & py::array::c_style))  // the bridge converts; a last guard
                    throw std::runtime_error("the calibration batch for input '" + std::string(names[i]) + "' has " +
                                             std::to_string(a.nbytes()) + " bytes, expected " + std::to_string(bytes));
                std::memcpy(bindings[i], a.data(), static_cast<size_t>(bytes));
            }
            return true;
        });
    }
    //! The bridge fetches the batch here (its arrays' shapes are the batch's) and hands the same arrays to getBatch.
    bool getBatchShapes(const char* const* names, Dims* shapes, int32_t n) noexcept override {
        return call(false, [&] {
            py::list pyNames, given;
            for (int32_t i = 0; i < n; ++i) {
                pyNames.append(py::str(names[i]));
                given.append(py::tuple(py::cast(fromDims(shapes[i]))));
            }
            py::object got = bridge_.attr("shapes")(pyNames, given);
            if (got.is_none()) return true;  // no batch left: getBatch says so
            auto list = got.cast<std::vector<std::vector<int64_t>>>();
            for (int32_t i = 0; i < n && static_cast<size_t>(i) < list.size(); ++i) {
                if (list[static_cast<size_t>(i)].size() > static_cast<size_t>(Dims::MAX_DIMS)) throw std::length_error("a batch array has more than 8 dimensions");
                shapes[i] = makeDims(static_cast<int32_t>(list[static_cast<size_t>(i)].size()), list[static_cast<size_t>(i)].data());
            }
            return true;
        });
    }
    const void* readCalibrationCache(size_t& length) noexcept override {
        length = 0;
        return call(static_cast<const void*>(nullptr), [&]() -> const void* {
            py::object c = bridge_.attr("read_cache")();
            if (c.is_none()) return nullptr;
            cache_ = c.cast<std::string>();
            length = cache_.size();
            return cache_.data();
        });
    }
    void writeCalibrationCache(const void* data, size_t length) noexcept override {
        call(0, [&] {
            bridge_.attr("write_cache")(py::bytes(static_cast<const char*>(data), length));
            return 0;
        });
    }
    Algorithm getAlgorithm() const noexcept override {
        return call(static_cast<Algorithm>(-1), [&] { return static_cast<Algorithm>(bridge_.attr("algorithm")().cast<int32_t>()); });
    }
    double getPercentile() const noexcept override {
        return call(-1.0, [&] { return bridge_.attr("percentile")().cast<double>(); });
    }

private:
    template <typename R, typename F>
    R call(R onError, F&& f) const noexcept {
        py::gil_scoped_acquire gil;
        try {
            return f();
        } catch (py::error_already_set& e) {
            ErrorCode code = ErrorCode::kINTERNAL;
            py::object v = e.value();
            if (py::hasattr(v, "code")) {
                try {
                    code = static_cast<ErrorCode>(py::int_(v.attr("code")).cast<int>());
                } catch (py::error_already_set&) {  // not an int: keep kINTERNAL
                }
            }
            setLastError(code, std::string(py::str(v)).c_str());
        } catch (const std::exception& e) {
            setLastError(ErrorCode::kINTERNAL, e.what());
        }
        return onError;
    }

    py::object bridge_;
    mutable std::string cache_;
};

py::dict calibrationResultToPython(const CalibrationResult& r) {
    py::dict out, amax, calibrated, stats;
    for (const auto& [name, v] : r.amax) amax[lenientStr(name)] = v;
    for (const auto& [name, v] : r.calibrated) calibrated[lenientStr(name)] = v;
    for (const auto& [name, s] : r.statistics) {
        py::array_t<int64_t> h(static_cast<py::ssize_t>(s.histogram.size()));
        if (!s.histogram.empty()) std::memcpy(h.mutable_data(), s.histogram.data(), s.histogram.size() * sizeof(int64_t));
        py::dict d;
        d["max"] = s.maxAbs;
        d["bin_width"] = s.binWidth;
        d["histogram"] = h;
        d["count"] = s.count;
        stats[lenientStr(name)] = d;
    }
    out["amax"] = amax;
    out["calibrated"] = calibrated;
    out["statistics"] = stats;
    out["from_cache"] = r.fromCache;
    out["batches"] = r.batches;
    return out;
}

std::vector<int64_t> histogramArgument(py::array_t<int64_t, py::array::c_style | py::array::forcecast> h) {
    if (h.ndim() != 1) raiseInvalid("histogram must be 1-D, not " + std::to_string(h.ndim()) + "-D");
    return std::vector<int64_t>(h.data(), h.data() + h.size());
}


// ---- optimization profiles (issue 15): gie/engine.py adds add_profile / get_profile_shape on top ----------------
//! Profiles, their use by configs, engines and contexts.
void bindOptimizationProfiles(py::module_& m) {
    py::enum_<OptProfileSelector>(m, "OptProfileSelector")
        .value("MIN", OptProfileSelector::kMIN).value("OPT", OptProfileSelector::kOPT).value("MAX", OptProfileSelector::kMAX);
    // Owned by the builder (IBuilder::createOptimizationProfile): keep_alive below holds the builder.
    py::class_<IOptimizationProfile, std::unique_ptr<IOptimizationProfile, py::nodelete>>(m, "OptimizationProfile")
        .def("set_dimensions", [](IOptimizationProfile& p, const std::string& name, OptProfileSelector sel, py::object shape) {
            const std::string what = "OptimizationProfile.set_dimensions('" + name + "')";
            check(p.setDimensions(name.c_str(), sel, toDims(shape, what + ": shape")), what);
        }, py::arg("input"), py::arg("select"), py::arg("shape"))
        .def("get_dimensions", [](const IOptimizationProfile& p, const std::string& name, OptProfileSelector sel) -> py::object {
            Dims d = p.getDimensions(name.c_str(), sel);
            if (d.nbDims < 0) return py::none();
            return py::tuple(py::cast(std::vector<int64_t>(d.d, d.d + d.nbDims)));
        }, py::arg("input"), py::arg("select"))
        .def("is_valid", [](const IOptimizationProfile& p) { return p.isValid(); });
    auto builder = py::reinterpret_borrow<py::class_<Builder>>(m.attr("_Builder"));
    builder.def("create_optimization_profile", [](Builder& b) {
        return check(b.builder->createOptimizationProfile(), "create_optimization_profile");
    }, py::return_value_policy::reference, py::keep_alive<0, 1>());
    auto config = py::reinterpret_borrow<py::class_<IBuilderConfig>>(m.attr("BuilderConfig"));
    config.def("add_optimization_profile", [](IBuilderConfig& c, const IOptimizationProfile* p) {
        int32_t i = c.addOptimizationProfile(p);  // copies the profile
        if (i < 0) raiseLast("add_optimization_profile failed");
        return i;
    }, py::arg("profile"))
        .def_property_readonly("num_optimization_profiles", &IBuilderConfig::getNbOptimizationProfiles);
    auto engine = py::reinterpret_borrow<py::class_<Engine, std::shared_ptr<Engine>>>(m.attr("Engine"));
    engine.def_property_readonly("num_optimization_profiles", [](Engine& e) { return e.engine->getNbOptimizationProfiles(); })
        .def("_get_profile_shape", [](Engine& e, const std::string& name, int32_t profile, OptProfileSelector sel) {
            return py::tuple(py::cast(fromDims(e.engine->getProfileShape(name.c_str(), profile, sel))));
        });
    auto context = py::reinterpret_borrow<py::class_<Context>>(m.attr("ExecutionContext"));
    context.def("set_optimization_profile", [](Context& c, py::object i) {
        int64_t v = toInt64(i, "set_optimization_profile: index");
        if (v < INT32_MIN || v > INT32_MAX) raiseInvalid("set_optimization_profile: index " + std::to_string(v) + " is out of range");
        check(c.ctx->setOptimizationProfile(static_cast<int32_t>(v)), "set_optimization_profile(" + std::to_string(v) + ")");
    }).def_property_readonly("optimization_profile", [](Context& c) { return c.ctx->getOptimizationProfile(); });
}
// ---- end optimization profiles ----

void bindCalibration(py::module_& m) {
    py::class_<PyInt8Calibrator>(m, "_Int8Calibrator")
        .def(py::init([](py::object bridge) { return std::make_unique<PyInt8Calibrator>(std::move(bridge)); }))
        .def_property_readonly("bridge", &PyInt8Calibrator::bridge);
    auto config = py::reinterpret_borrow<py::class_<IBuilderConfig>>(m.attr("BuilderConfig"));
    config.def("_set_int8_calibrator", [](IBuilderConfig& c, PyInt8Calibrator* cal) { c.setInt8Calibrator(cal); },
               py::keep_alive<1, 2>(), "Set (None: clear) the calibrator; gie.BuilderConfig.int8_calibrator wraps it.")
        .def("_get_int8_calibrator", [](const IBuilderConfig& c) -> py::object {
            auto* cal = dynamic_cast<PyInt8Calibrator*>(c.getInt8Calibrator());
            return cal ? cal->bridge() : py::none();
        });
    m.def("_calibrate", [](const INetworkDefinition& net, PyInt8Calibrator& cal, py::function log, bool statistics) {
        PyLogger logger(std::move(log));
        CalibrationResult r;
        bool ok;
        {
            py::gil_scoped_release nogil;
            ok = calibrateNetworkNoThrow(net, cal, &logger, statistics, &r);
        }
        check(ok, "calibrate");
        return calibrationResultToPython(r);
    }, py::arg("network"), py::arg("calibrator"), py::arg("log"), py::arg("statistics"));
    m.def("_entropy_amax", [](py::object h, double width, double maxAbs) { return entropyAmax(histogramArgument(h), width, maxAbs); },
          py::arg("histogram"), py::arg("bin_width"), py::arg("max_abs"));
    m.def("_percentile_amax", [](py::object h, double width, double maxAbs, double p) {
        return percentileAmax(histogramArgument(h), width, maxAbs, p);
    }, py::arg("histogram"), py::arg("bin_width"), py::arg("max_abs"), py::arg("percentile"));
}

}  // namespace
// ---- end INT8 calibration ----

PYBIND11_MODULE(_C, m) {
    m.doc() = "gie native module (use the `gie` package)";

    py::enum_<DataType>(m, "DataType")
        .value("float32", DataType::kFLOAT).value("float16", DataType::kHALF).value("int8", DataType::kINT8)
        .value("int32", DataType::kINT32).value("bool", DataType::kBOOL);
    py::enum_<TensorFormat>(m, "TensorFormat")
        .value("LINEAR", TensorFormat::kLINEAR).value("NHWC", TensorFormat::kNHWC).value("CHW4", TensorFormat::kCHW4)
        .value("CHW32", TensorFormat::kCHW32).value("HWC8", TensorFormat::kHWC8);
    py::enum_<DeviceType>(m, "DeviceType").value("CPU", DeviceType::kCPU).value("GPU", DeviceType::kGPU).value("AUTO", DeviceType::kAUTO);
    py::enum_<BuilderFlag>(m, "BuilderFlag").value("FP16", BuilderFlag::kFP16).value("INT8", BuilderFlag::kINT8)
        .value("STRICT_TYPES", BuilderFlag::kSTRICT_TYPES).value("TF32", BuilderFlag::kTF32)
        .value("OBEY_PRECISION_CONSTRAINTS", BuilderFlag::kOBEY_PRECISION_CONSTRAINTS)
        .value("PREFER_PRECISION_CONSTRAINTS", BuilderFlag::kPREFER_PRECISION_CONSTRAINTS).value("REFIT", BuilderFlag::kREFIT);
    py::enum_<ErrorCode>(m, "ErrorCode")
        .value("SUCCESS", ErrorCode::kSUCCESS).value("INVALID_ARGUMENT", ErrorCode::kINVALID_ARGUMENT)
        .value("INVALID_MODEL", ErrorCode::kINVALID_MODEL).value("UNSUPPORTED", ErrorCode::kUNSUPPORTED)
        .value("INVALID_ENGINE", ErrorCode::kINVALID_ENGINE).value("VERSION_MISMATCH", ErrorCode::kVERSION_MISMATCH)
        .value("DEVICE_MISMATCH", ErrorCode::kDEVICE_MISMATCH).value("OUT_OF_MEMORY", ErrorCode::kOUT_OF_MEMORY)
        .value("NO_DEVICE", ErrorCode::kNO_DEVICE).value("INTERNAL", ErrorCode::kINTERNAL);
    py::enum_<ActivationType>(m, "ActivationType")
        .value("RELU", ActivationType::kRELU).value("SIGMOID", ActivationType::kSIGMOID).value("TANH", ActivationType::kTANH)
        .value("LEAKY_RELU", ActivationType::kLEAKY_RELU).value("ELU", ActivationType::kELU).value("SELU", ActivationType::kSELU)
        .value("SOFTSIGN", ActivationType::kSOFTSIGN).value("SOFTPLUS", ActivationType::kSOFTPLUS).value("CLIP", ActivationType::kCLIP)
        .value("HARD_SIGMOID", ActivationType::kHARD_SIGMOID).value("SCALED_TANH", ActivationType::kSCALED_TANH)
        .value("THRESHOLDED_RELU", ActivationType::kTHRESHOLDED_RELU).value("GELU", ActivationType::kGELU)
        .value("GELU_TANH", ActivationType::kGELU_TANH).value("HARD_SWISH", ActivationType::kHARD_SWISH)
        .value("MISH", ActivationType::kMISH).value("SILU", ActivationType::kSILU).value("RELU6", ActivationType::kRELU6);
    py::enum_<PoolingType>(m, "PoolingType").value("MAX", PoolingType::kMAX).value("AVERAGE", PoolingType::kAVERAGE);
    py::enum_<ElementWiseOperation>(m, "ElementWiseOperation")
        .value("SUM", ElementWiseOperation::kSUM).value("PROD", ElementWiseOperation::kPROD).value("MAX", ElementWiseOperation::kMAX)
        .value("MIN", ElementWiseOperation::kMIN).value("SUB", ElementWiseOperation::kSUB).value("DIV", ElementWiseOperation::kDIV)
        .value("POW", ElementWiseOperation::kPOW).value("FLOOR_DIV", ElementWiseOperation::kFLOOR_DIV)
        .value("AND", ElementWiseOperation::kAND).value("OR", ElementWiseOperation::kOR).value("XOR", ElementWiseOperation::kXOR)
        .value("EQUAL", ElementWiseOperation::kEQUAL).value("GREATER", ElementWiseOperation::kGREATER)
        .value("LESS", ElementWiseOperation::kLESS).value("MOD", ElementWiseOperation::kMOD);
    py::enum_<UnaryOperation>(m, "UnaryOperation")
        .value("EXP", UnaryOperation::kEXP).value("LOG", UnaryOperation::kLOG).value("SQRT", UnaryOperation::kSQRT)
        .value("RECIP", UnaryOperation::kRECIP).value("ABS", UnaryOperation::kABS).value("NEG", UnaryOperation::kNEG)
        .value("SIN", UnaryOperation::kSIN).value("COS", UnaryOperation::kCOS).value("TAN", UnaryOperation::kTAN)
        .value("SINH", UnaryOperation::kSINH).value("COSH", UnaryOperation::kCOSH).value("ASIN", UnaryOperation::kASIN)
        .value("ACOS", UnaryOperation::kACOS).value("ATAN", UnaryOperation::kATAN).value("ASINH", UnaryOperation::kASINH)
        .value("ACOSH", UnaryOperation::kACOSH).value("ATANH", UnaryOperation::kATANH).value("CEIL", UnaryOperation::kCEIL)
        .value("FLOOR", UnaryOperation::kFLOOR).value("ERF", UnaryOperation::kERF).value("NOT", UnaryOperation::kNOT)
        .value("SIGN", UnaryOperation::kSIGN).value("ROUND", UnaryOperation::kROUND);
    py::enum_<ReduceOperation>(m, "ReduceOperation")
        .value("SUM", ReduceOperation::kSUM).value("PROD", ReduceOperation::kPROD).value("MAX", ReduceOperation::kMAX)
        .value("MIN", ReduceOperation::kMIN).value("AVG", ReduceOperation::kAVG);
    py::enum_<PaddingMode>(m, "PaddingMode").value("CONSTANT", PaddingMode::kCONSTANT).value("REFLECT", PaddingMode::kREFLECT)
        .value("EDGE", PaddingMode::kEDGE);
    py::enum_<ScaleMode>(m, "ScaleMode").value("UNIFORM", ScaleMode::kUNIFORM).value("CHANNEL", ScaleMode::kCHANNEL)
        .value("ELEMENTWISE", ScaleMode::kELEMENTWISE);
    py::enum_<ResizeMode>(m, "ResizeMode").value("NEAREST", ResizeMode::kNEAREST).value("LINEAR", ResizeMode::kLINEAR);
    py::enum_<ResizeCoordinateTransformation>(m, "ResizeCoordinateTransformation")
        .value("HALF_PIXEL", ResizeCoordinateTransformation::kHALF_PIXEL).value("ASYMMETRIC", ResizeCoordinateTransformation::kASYMMETRIC)
        .value("ALIGN_CORNERS", ResizeCoordinateTransformation::kALIGN_CORNERS)
        .value("PYTORCH_HALF_PIXEL", ResizeCoordinateTransformation::kPYTORCH_HALF_PIXEL);
    py::enum_<ResizeRoundMode>(m, "ResizeRoundMode")
        .value("ROUND_PREFER_FLOOR", ResizeRoundMode::kROUND_PREFER_FLOOR).value("ROUND_PREFER_CEIL", ResizeRoundMode::kROUND_PREFER_CEIL)
        .value("FLOOR", ResizeRoundMode::kFLOOR).value("CEIL", ResizeRoundMode::kCEIL);

    m.def("_set_error_classes", [](py::dict d) { gErrorClasses = new py::object(d); });
    m.def("version", [] { return getVersion(); });
    m.def("load_library", [](const std::string& path) { check(getPluginRegistry()->loadLibrary(path.c_str()), "load_library('" + path + "')"); },
          py::arg("path"), "Load a plugin library; its creators register themselves.");
    m.def("registered_plugins", [] {
        int32_t n = 0;
        IPluginCreator* const* cs = getPluginRegistry()->getAllCreators(&n);
        py::list out;
        for (int32_t i = 0; i < n; ++i)
            out.append(py::make_tuple(cs[i]->getPluginName(), cs[i]->getPluginVersion(),
                                      cs[i]->getDeviceType() == DeviceType::kGPU ? "gpu" : "cpu"));
        return out;
    });
    // ---- plugin SDK (issue 17): ABI version, creator origins, `gie plugin check` ----
    m.def("plugin_abi_version", [] { return GIE_PLUGIN_ABI_VERSION; });
    m.def("plugin_creators", [] {
        int32_t n = 0;
        IPluginCreator* const* cs = getPluginRegistry()->getAllCreators(&n);
        py::list out;
        for (int32_t i = 0; i < n; ++i) {
            py::dict d;
            d["name"] = cs[i]->getPluginName();
            d["version"] = cs[i]->getPluginVersion();
            d["device"] = cs[i]->getDeviceType() == DeviceType::kGPU ? "gpu" : "cpu";
            d["variant"] = cs[i]->getPluginVariant() ? cs[i]->getPluginVariant() : "";
            d["origin"] = pluginCreatorOrigin(cs[i]);
            out.append(d);
        }
        return out;
    }, "Every registered creator: name, version, device, variant, origin (library path or Python class; '' for built-ins).");
    m.def("check_plugin", [](const std::string& name, const std::string& version, const std::string& device, const std::string& variant,
                             std::vector<std::vector<int64_t>> shapes, int32_t threads, py::dict fields) {
        IPluginCreator* c = getPluginRegistry()->getCreatorVariant(name.c_str(), version.c_str(),
                                                                   device == "gpu" ? DeviceType::kGPU : DeviceType::kCPU, variant.c_str());
        if (!c) raiseInvalid("check_plugin: no creator '" + name + "' version " + version + " for the " + device);
        auto given = toFields(fields);
        std::string json;
        {
            py::gil_scoped_release release;  // Python plugins take the GIL in their methods, from the checker's threads
            json = checkPluginCreator(*c, shapes, threads, &given->fc);
        }
        return lenientStr(json);
    }, py::arg("name"), py::arg("version"), py::arg("device"), py::arg("variant"), py::arg("shapes"), py::arg("threads"),
       py::arg("fields") = py::dict());
    m.def("_register_python_plugin", [](py::object cls, const std::string& name, const std::string& version, const std::string& device,
                                         const std::vector<std::pair<std::string, std::string>>& fields, const std::string& origin, bool replace) {
        static std::vector<PyPluginCreator*>* registered = new std::vector<PyPluginCreator*>();  // never freed (see PyPluginCreator::cls)
        IPluginRegistry* reg = getPluginRegistry();
        const DeviceType d = device == "gpu" ? DeviceType::kGPU : DeviceType::kCPU;
        if (IPluginCreator* old = reg->getCreatorVariant(name.c_str(), version.c_str(), d, "")) {
            PyPluginCreator* mine = nullptr;
            for (auto* c : *registered)
                if (c == old) mine = c;
            if (mine && mine->cls.is(cls)) return;  // the same class again
            const std::string from = pluginCreatorOrigin(old);
            if (!replace || !mine)
                raiseInvalid("register_plugin: plugin '" + name + "' version " + version + " for the " + device + " is already registered" +
                             (from.empty() ? std::string(" (built in, or by the program)") : " from " + from) +
                             (mine ? "; pass replace=True to replace it" : ""));
            reg->deregisterCreator(*old);
        }
        auto* c = new PyPluginCreator(cls, name, version, d, fields);
        check(reg->registerCreator(*c), "register_plugin('" + name + "')");
        setPluginCreatorOrigin(c, origin);
        registered->push_back(c);
    });
    m.def("plugin_field_names", [](const std::string& type) {
        IPluginRegistry* r = getPluginRegistry();
        IPluginCreator* c = r->getCreator(type.c_str(), nullptr, DeviceType::kCPU);
        if (!c) c = r->getCreator(type.c_str(), nullptr, DeviceType::kAUTO);
        py::list out;
        if (!c) return out;
        const PluginFieldCollection* fc = c->getFieldNames();
        for (int32_t i = 0; fc && i < fc->nbFields; ++i) out.append(fc->fields[i].name);
        return out;
    });
    m.def("engine_summary", [](py::bytes data) {
        std::string buf = data;
        std::string json = summarizeEngine(buf.data(), buf.size());
        return lenientStr(json);
    }, py::arg("data"), "JSON summary of an engine file (header and kernels needed), read without loading it.");
    m.def("tactic_architecture", [](const std::string& tactic) { return std::string(tacticArchitecture(tactic)); }, py::arg("tactic"),
          "The GPU architecture a built-in tactic needs (engine/tactic_architecture.h): 'sm_90a', 'sm_80' or ''.");
    m.def("tactic_unverified", [](const std::string& tactic) { return tacticUnverified(tactic); }, py::arg("tactic"),
          "Whether a built-in tactic is not yet verified on a GPU, so the builder times it only with "
          "GIE_UNVERIFIED_TACTICS=1 (engine/tactic_architecture.h: today no built-in tactic; the prefix "
          "'unverified_gate_test_' is reserved for the gate's own test).");
    m.def("cuda_compiled", [] {
#if GIE_HAVE_CUDA_BUILD
        return true;
#else
        return false;
#endif
    });
    m.def("build_info_json", [] {
        const char* j = getBuildInfoJson();
        std::string text = j ? j : "{}";
        return lenientStr(text);
    }, "What this build and this machine offer, as JSON (see gie.build_info()).");

    // ---- GPU allocator and memory helpers (gie/gpu.h) ----
    m.def("set_gpu_allocator", [](py::object obj) {
        PyGpuAllocator* next = nullptr;
        if (!obj.is_none()) {
            for (const char* attr : {"allocate", "deallocate"})
                if (!py::hasattr(obj, attr) || !PyCallable_Check(obj.attr(attr).ptr()))
                    raiseInvalid(std::string("the GPU allocator needs a callable '") + attr + "' method");
            next = new PyGpuAllocator(obj);
        }
        PyGpuAllocator* previous;
        {
            std::lock_guard<std::mutex> lock(gAllocMutex);
            if (!gAllocators) gAllocators = new std::deque<PyGpuAllocator*>();
            if (next) gAllocators->push_back(next);
            setGpuAllocator(next);
            previous = gCurrentAllocator;
            gCurrentAllocator = next;
        }
        if (previous) previous->uninstall();
    }, py::arg("allocator"), "Install a Python GPU allocator (allocate(size, alignment) -> int, deallocate(ptr)); None restores cudaMalloc.");
    m.def("get_gpu_allocator", []() -> py::object {
        std::lock_guard<std::mutex> lock(gAllocMutex);
        if (gCurrentAllocator && getGpuAllocator() == gCurrentAllocator) return gCurrentAllocator->object();
        return py::none();
    });
    m.def("gpu_allocate", [](size_t bytes) {
        void* p = gpuAllocate(bytes);
        if (!p) raiseLast("gpu_allocate(" + std::to_string(bytes) + ") failed");
        return reinterpret_cast<uintptr_t>(p);
    }, py::arg("bytes"));
    m.def("gpu_free", [](uintptr_t p) { gpuFree(reinterpret_cast<void*>(p)); }, py::arg("ptr"));
    m.def("gpu_copy", [](uintptr_t dst, uintptr_t src, size_t bytes, int kind, uintptr_t stream) {
        if (kind < 0 || kind > 2) throw py::value_error("gpu_copy: kind must be 0 (host->device), 1 (device->host) or 2 (device->device)");
        bool ok;
        {
            py::gil_scoped_release nogil;
            ok = gpuCopy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, static_cast<GpuCopyKind>(kind),
                         reinterpret_cast<void*>(stream));
        }
        check(ok, "gpu_copy");
    }, py::arg("dst"), py::arg("src"), py::arg("bytes"), py::arg("kind"), py::arg("stream") = 0,
       "Asynchronous copy on `stream`; kind: 0 host->device, 1 device->host, 2 device->device.");
    m.def("gpu_stream_create", [] {
        void* s = gpuStreamCreate();
        if (!s) raiseLast("gpu_stream_create failed");
        return reinterpret_cast<uintptr_t>(s);
    });
    m.def("gpu_stream_destroy", [](uintptr_t s) { gpuStreamDestroy(reinterpret_cast<void*>(s)); }, py::arg("stream"));
    m.def("gpu_stream_synchronize", [](uintptr_t s) {
        bool ok;
        {
            py::gil_scoped_release nogil;
            ok = gpuStreamSynchronize(reinterpret_cast<void*>(s));
        }
        check(ok, "gpu_stream_synchronize");
    }, py::arg("stream"));
    m.def("gpu_host_allocate", [](size_t bytes) {
        void* p = gpuHostAllocate(bytes);
        if (!p) raiseLast("gpu_host_allocate(" + std::to_string(bytes) + ") failed");
        return reinterpret_cast<uintptr_t>(p);
    }, py::arg("bytes"));
    m.def("gpu_host_free", [](uintptr_t p) { gpuHostFree(reinterpret_cast<void*>(p)); }, py::arg("ptr"));
    m.def("gpu_is_device_pointer", [](uintptr_t p) {
        bool r = gpuIsDevicePointer(reinterpret_cast<const void*>(p));
        clearLastError();
        return r;
    }, py::arg("ptr"));

    // ---- DLPack consumption (for __dlpack__ producers without __cuda_array_interface__, e.g. jax) ----
    py::class_<DLPackTensor>(m, "_DLPackTensor")
        .def_property_readonly("ptr", [](const DLPackTensor& t) {
            return reinterpret_cast<uintptr_t>(t.managed->dl_tensor.data) + static_cast<uintptr_t>(t.managed->dl_tensor.byte_offset);
        })
        .def_property_readonly("device", [](const DLPackTensor& t) {
            return py::make_tuple(t.managed->dl_tensor.device.device_type, t.managed->dl_tensor.device.device_id);
        })
        .def_property_readonly("shape", [](const DLPackTensor& t) {
            const DLTensorS& d = t.managed->dl_tensor;
            return py::tuple(py::cast(std::vector<int64_t>(d.shape, d.shape + d.ndim)));
        })
        .def_property_readonly("strides", [](const DLPackTensor& t) -> py::object {
            const DLTensorS& d = t.managed->dl_tensor;
            if (!d.strides) return py::none();
            return py::tuple(py::cast(std::vector<int64_t>(d.strides, d.strides + d.ndim)));
        })
        .def_property_readonly("dtype", [](const DLPackTensor& t) {  // (code, bits, lanes): code 0 int, 1 uint, 2 float, 6 bool
            const DLDataTypeS& d = t.managed->dl_tensor.dtype;
            return py::make_tuple(static_cast<int>(d.code), static_cast<int>(d.bits), static_cast<int>(d.lanes));
        });
    m.def("_dlpack_consume", [](py::capsule cap) {
        if (std::strcmp(cap.name() ? cap.name() : "", "dltensor") != 0)
            throw py::type_error("expected an unused DLPack capsule named 'dltensor'");
        auto t = std::make_unique<DLPackTensor>();
        t->managed = static_cast<DLManagedTensorS*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
        if (!t->managed) throw py::error_already_set();
        if (PyCapsule_SetName(cap.ptr(), "used_dltensor") != 0) {
            t->managed = nullptr;
            throw py::error_already_set();
        }
        return t;
    }, py::arg("capsule"), "Takes ownership of a DLPack capsule; the producer's deleter runs when the result is freed.");

    py::class_<ITensor, NoDelete<ITensor>>(m, "Tensor")
        .def_property("name", &ITensor::getName, [](ITensor& t, const std::string& n) {
            // The C++ API ignores an empty name; from Python that would be a silent no-op.
            if (n.empty()) raiseInvalid("tensor '" + std::string(t.getName()) + "': a tensor name cannot be empty");
            t.setName(n.c_str());
        })
        .def_property_readonly("shape", [](const ITensor& t) { return py::tuple(py::cast(fromDims(t.getDimensions()))); })
        .def_property("dtype", &ITensor::getType, [](ITensor& t, DataType d) { check(t.setType(d), "setting dtype"); })
        .def_property("allowed_formats", [](const ITensor& t) {
            py::list v;
            for (int f = 0; f < 5; ++f)
                if (t.getAllowedFormats() >> f & 1u) v.append(static_cast<TensorFormat>(f));
            return v;
        }, [](ITensor& t, py::object formats) {
            uint32_t mask = 0;
            if (py::isinstance<TensorFormat>(formats)) {
                mask = 1u << static_cast<int>(formats.cast<TensorFormat>());
            } else {
                for (auto f : formats) mask |= 1u << static_cast<int>(f.cast<TensorFormat>());
            }
            check(t.setAllowedFormats(mask), "setting allowed_formats");
        })
        .def_property_readonly("is_shape_tensor", &ITensor::isShapeTensor)
        .def_property_readonly("shape_value", [](const ITensor& t) -> py::object {
            const Dims d = t.getShapeValue();
            if (d.nbDims < 0) return py::none();
            return py::tuple(py::cast(fromDims(d)));
        })
        .def_property_readonly("is_network_input", &ITensor::isNetworkInput)
        .def_property_readonly("is_network_output", &ITensor::isNetworkOutput)
        .def("set_dynamic_range", [](ITensor& t, float lo, float hi) { check(t.setDynamicRange(lo, hi), "set_dynamic_range"); })
        .def_property_readonly("dynamic_range", [](const ITensor& t) -> py::object {
            if (!t.dynamicRangeIsSet()) return py::none();
            return py::make_tuple(-t.getDynamicRangeMax(), t.getDynamicRangeMax());
        })
        .def_property_readonly("producer", &ITensor::getProducer, py::return_value_policy::reference)
        .def("__repr__", [](const ITensor& t) {
            Dims d = t.getDimensions();
            std::string s = "<gie.Tensor '" + std::string(t.getName()) + "' (";
            for (int i = 0; i < d.nbDims; ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
            return s + ")>";
        });

    py::class_<ILayer, NoDelete<ILayer>>(m, "Layer")
        .def_property_readonly("type", &ILayer::getType)
        .def_property("name", &ILayer::getName, [](ILayer& l, const std::string& n) { l.setName(n.c_str()); })  // None: an error, not ignored
        .def_property_readonly("num_inputs", &ILayer::getNbInputs)
        .def_property_readonly("num_outputs", &ILayer::getNbOutputs)
        .def("get_input", [](ILayer& l, py::object i) { return l.getInput(index(i, l.getNbInputs(), "layer '" + std::string(l.getName()) + "': get_input", "inputs")); },
             py::return_value_policy::reference)
        .def("set_input", [](ILayer& l, int i, ITensor& t) { check(l.setInput(i, t), "set_input"); })
        .def("output", [](ILayer& l, py::object i) { return l.getOutput(index(i, l.getNbOutputs(), "layer '" + std::string(l.getName()) + "': output", "outputs")); },
             py::return_value_policy::reference, py::arg("index") = 0)
        .def_property("precision", &ILayer::getPrecision, &ILayer::setPrecision)
        .def_property_readonly("precision_is_set", &ILayer::precisionIsSet)
        .def("set_output_type", [](ILayer& l, int i, DataType t) { check(l.setOutputType(i, t), "set_output_type"); })
        .def("get_output_type", [](ILayer& l, int i) { return l.getOutputType(i); })
        .def("output_type_is_set", [](ILayer& l, int i) { return l.outputTypeIsSet(i); })
        .def("_set_field", [](ILayer& l, const std::string& name, py::object value) {
            py::dict d;
            d[py::str(name)] = value;
            auto st = toFields(d);
            check(l.setField(st->fields[0]), "setting field '" + name + "' of layer '" + l.getName() + "'");
        })
        .def("_get_field", [](const ILayer& l, const std::string& name) -> py::object {
            const PluginField* f = l.getField(name.c_str());
            return f ? fieldToPython(*f) : py::none();
        })
        .def("_field_names", [](const ILayer& l) {
            py::list out;
            for (int32_t i = 0; i < l.getNbFields(); ++i) out.append(l.getFieldAt(i)->name);
            return out;
        });

    py::class_<INetworkDefinition>(m, "NetworkDefinition")
        .def("add_input", [](INetworkDefinition& n, const std::string& name, DataType t, py::object shape) {
            Dims d = toDims(shape, "add_input('" + name + "'): shape");
            return check(n.addInput(name.c_str(), t, d), "add_input('" + name + "')");
        }, py::return_value_policy::reference_internal, py::arg("name"), py::arg("dtype"), py::arg("shape"))
        .def("_mark_output", [](INetworkDefinition& n, ITensor& t) { check(n.markOutput(t), "mark_output"); })
        .def("unmark_output", [](INetworkDefinition& n, ITensor& t) { check(n.unmarkOutput(t), "unmark_output"); })
        .def("add_layer", [](INetworkDefinition& n, const std::string& type, std::vector<ITensor*> inputs, py::dict fields) {
            auto st = toFields(fields);
            return check(n.addLayer(type.c_str(), inputs.data(), static_cast<int32_t>(inputs.size()), &st->fc), "add_layer('" + type + "')");
        }, py::return_value_policy::reference_internal, py::arg("type"), py::arg("inputs"), py::arg("fields") = py::dict(),
           "Add a layer of any registered type (built-in or plugin) with fields {name: value}.")
        .def("remove_layer", [](INetworkDefinition& n, ILayer& l) { check(n.removeLayer(l), "remove_layer"); })
        .def_property_readonly("num_layers", &INetworkDefinition::getNbLayers)
        .def_property_readonly("num_inputs", &INetworkDefinition::getNbInputs)
        .def_property_readonly("num_outputs", &INetworkDefinition::getNbOutputs)
        .def("get_layer", [](INetworkDefinition& n, py::object i) { return n.getLayer(index(i, n.getNbLayers(), "get_layer", "layers")); },
             py::return_value_policy::reference_internal)
        .def("get_input", [](INetworkDefinition& n, py::object i) { return n.getInput(index(i, n.getNbInputs(), "get_input", "inputs")); },
             py::return_value_policy::reference_internal)
        .def("get_output", [](INetworkDefinition& n, py::object i) { return n.getOutput(index(i, n.getNbOutputs(), "get_output", "outputs")); },
             py::return_value_policy::reference_internal);

    py::class_<IBuilderConfig>(m, "BuilderConfig", py::dynamic_attr())  // gie.Builder.create_config stores its builder on it
        .def_property("device", &IBuilderConfig::getDevice, &IBuilderConfig::setDevice)
        .def("set_flag", &IBuilderConfig::setFlag)
        .def("clear_flag", &IBuilderConfig::clearFlag)
        .def("get_flag", &IBuilderConfig::getFlag)
        .def("set_batch_range", [](IBuilderConfig& c, int64_t a, int64_t b, int64_t d) { check(c.setBatchRange(a, b, d), "set_batch_range"); })
        .def_property_readonly("min_batch", &IBuilderConfig::getMinBatch)
        .def_property_readonly("opt_batch", &IBuilderConfig::getOptBatch)
        .def_property_readonly("_max_batch", &IBuilderConfig::getMaxBatch)
        .def_property("workspace_limit", &IBuilderConfig::getWorkspaceLimit, &IBuilderConfig::setWorkspaceLimit)
        .def("set_pass_enabled", [](IBuilderConfig& c, const std::string& p, bool on) { check(c.setPassEnabled(p.c_str(), on), "set_pass_enabled"); })
        .def("get_pass_enabled", [](IBuilderConfig& c, const std::string& p) { return c.getPassEnabled(p.c_str()); })
        .def_property("cuda_graph", &IBuilderConfig::getCudaGraph, &IBuilderConfig::setCudaGraph,
                      "GPU: capture each context's enqueue as a CUDA graph and replay it (per input shapes and bindings).")
        .def_property("_timing_cache", [](const IBuilderConfig& c) { const char* p = c.getTimingCachePath(); return std::string(p ? p : ""); },
                      [](IBuilderConfig& c, const std::string& p) { c.setTimingCachePath(p.c_str()); })
        .def("force_tactic", [](IBuilderConfig& c, const std::string& kernel, const std::string& tactic) {
            check(c.setTacticOverride(kernel.c_str(), tactic.c_str()), "force_tactic('" + kernel + "', '" + tactic + "')");
        }, py::arg("kernel"), py::arg("tactic"), "Force `tactic` for kernels whose type or name is `kernel` (where offered).")
        .def("clear_tactic_overrides", &IBuilderConfig::clearTacticOverrides)
        .def_property("max_aux_streams", &IBuilderConfig::getMaxAuxStreams, [](IBuilderConfig& c, int32_t n) {
            check(c.setMaxAuxStreams(n), "max_aux_streams = " + std::to_string(n));
        }, "Auxiliary streams for independent branches: -1 the builder decides, 0 none, n at most n.");

    py::class_<Engine, std::shared_ptr<Engine>>(m, "Engine")
        .def_property_readonly("num_io_tensors", [](Engine& e) { return e.engine->getNbIOTensors(); })
        .def_property_readonly("io_tensor_names", [](Engine& e) {
            py::list v;
            for (int32_t i = 0; i < e.engine->getNbIOTensors(); ++i) v.append(lenientStr(e.engine->getIOTensorName(i)));
            return v;
        })
        .def_property_readonly("_io_tensors", [](Engine& e) {  // [(name, is_input)], asked by the raw name
            py::list v;
            for (int32_t i = 0; i < e.engine->getNbIOTensors(); ++i) {
                const char* n = e.engine->getIOTensorName(i);
                v.append(py::make_tuple(lenientStr(n), e.engine->isInput(n)));
            }
            return v;
        })
        .def("is_input", [](Engine& e, const std::string& n) { return e.engine->isInput(n.c_str()); })
        .def("get_tensor_shape", [](Engine& e, const std::string& n) { return py::tuple(py::cast(fromDims(e.engine->getTensorShape(n.c_str())))); })
        .def("get_tensor_dtype", [](Engine& e, const std::string& n) {
            fromDims(e.engine->getTensorShape(n.c_str()));  // raises for an unknown name (the dtype getter has no error value)
            return e.engine->getTensorDataType(n.c_str());
        })
        .def("get_tensor_format", [](Engine& e, const std::string& n) {
            fromDims(e.engine->getTensorShape(n.c_str()));  // raises for an unknown name
            return e.engine->getTensorFormat(n.c_str());
        })
        .def_property_readonly("min_batch", [](Engine& e) { return e.engine->getMinBatch(); })
        .def_property_readonly("max_batch", [](Engine& e) { return e.engine->getMaxBatch(); })
        .def_property_readonly("device", [](Engine& e) { return e.engine->getDeviceType(); })
        .def_property_readonly("num_kernels", [](Engine& e) { return e.engine->getNbKernels(); })
        .def_property_readonly("activation_memory_size", [](Engine& e) { return e.engine->getActivationMemorySize(); })
        .def("serialize", [](Engine& e) {
            std::unique_ptr<IHostMemory> mem;
            {
                py::gil_scoped_release nogil;
                mem.reset(e.engine->serialize());
            }
            check(mem.get(), "serialize");
            return py::bytes(static_cast<const char*>(mem->data()), mem->size());
        })
        .def("_layer_info_json", [](Engine& e) {
            std::string json = e.engine->getLayerInformation();
            return lenientStr(json);
        })
        .def("create_execution_context", [](std::shared_ptr<Engine> e) {
            auto c = std::make_unique<Context>();
            c->engine = e;
            {
                py::gil_scoped_release nogil;
                c->ctx.reset(e->engine->createExecutionContext());
            }
            check(c->ctx.get(), "create_execution_context");
            return c;
        });

    py::class_<Context>(m, "ExecutionContext")
        .def_property_readonly("engine", [](Context& c) { return c.engine; })
        .def("set_input_shape", [](Context& c, const std::string& n, py::object s) {
            Dims d = toDims(s, "set_input_shape('" + n + "'): shape");
            check(c.ctx->setInputShape(n.c_str(), d), "set_input_shape('" + n + "')");
        })
        .def("get_tensor_shape", [](Context& c, const std::string& n) { return py::tuple(py::cast(fromDims(c.ctx->getTensorShape(n.c_str())))); })
        .def("set_tensor_address", [](Context& c, const std::string& n, py::object p) {
            std::string what = "set_tensor_address('" + n + "')";
            int64_t a = toInt64(p, what + ": address");
            if (a < 0) raiseInvalid(what + ": address " + std::to_string(a) + " is negative");
            check(c.ctx->setTensorAddress(n.c_str(), reinterpret_cast<void*>(static_cast<uintptr_t>(a))), what);
        })
        .def("_execute", [](Context& c) {
            bool ok;
            {
                py::gil_scoped_release nogil;
                ok = c.ctx->execute();
            }
            check(ok, "execute");
        })
        .def("enqueue", [](Context& c, uintptr_t stream) {
            bool ok;
            {
                py::gil_scoped_release nogil;
                ok = c.ctx->enqueue(reinterpret_cast<void*>(stream));
            }
            check(ok, "enqueue");
        }, py::arg("stream") = 0)
        .def_property("cuda_graph", [](Context& c) { return c.ctx->getCudaGraph(); },
                      [](Context& c, bool on) { c.ctx->setCudaGraph(on); },
                      "GPU: replay enqueue as a CUDA graph (re-captured when shapes or addresses change).")
        .def("_set_profiler", [](Context& c, py::object fn) {
            if (fn.is_none()) {
                c.ctx->setProfiler(nullptr);
                c.profiler.reset();
            } else {
                c.profiler = std::make_unique<PyProfiler>(fn.cast<py::function>());
                c.ctx->setProfiler(c.profiler.get());
            }
        });

    py::class_<Builder>(m, "_Builder")
        .def(py::init([](py::function log) {
            auto b = std::make_unique<Builder>();
            b->logger = std::make_shared<PyLogger>(std::move(log));
            b->builder.reset(check(createBuilder(*b->logger), "createBuilder"));
            return b;
        }))
        .def("create_network", [](Builder& b) { return std::unique_ptr<INetworkDefinition>(check(b.builder->createNetwork(), "create_network")); })
        .def("create_config", [](Builder& b) { return std::unique_ptr<IBuilderConfig>(check(b.builder->createBuilderConfig(), "create_config")); })
        .def_property_readonly("platform_has_gpu", [](Builder& b) { return b.builder->platformHasGpu(); })
        .def("build", [](Builder& b, const INetworkDefinition& n, const IBuilderConfig& c) {
            auto e = std::make_shared<Engine>();
            e->logger = b.logger;
            {
                py::gil_scoped_release nogil;
                e->engine.reset(b.builder->buildEngine(n, c));
            }
            check(e->engine.get(), "build");
            return e;
        }, py::arg("network"), py::arg("config"));

    // ---- ONNX importer (gie/onnx_parser.h): a thin binding; gie/parsers/onnx_parser.py wraps it ----------
    m.def("_parse_onnx", [](INetworkDefinition& net, py::object path, py::object data, py::object baseDir, int64_t batch,
                            py::dict inputShapes, bool pluginFallback) {
        struct Quiet final : ILogger {  // errors are raised as exceptions; logging them too would repeat them
            void log(Severity, const char*) noexcept override {}
        } quiet;
        std::unique_ptr<IOnnxParser> parser(check(createOnnxParser(net, quiet), "createOnnxParser"));
        check(parser->setBatch(batch), "OnnxParser: batch");
        for (auto item : inputShapes) {
            const std::string name = item.first.cast<std::string>();
            Dims d = toDims(py::reinterpret_borrow<py::object>(item.second), "OnnxParser: input_shapes['" + name + "']");
            check(parser->setInputShape(name.c_str(), d), "OnnxParser: input_shapes['" + name + "']");
        }
        parser->setPluginFallback(pluginFallback);
        bool ok;
        if (!path.is_none()) {
            ok = parser->parseFromFile(path.cast<std::string>().c_str());
        } else {
            std::string buf = data.cast<std::string>();
            std::string dir = baseDir.is_none() ? std::string() : baseDir.cast<std::string>();
            ok = parser->parse(buf.data(), buf.size(), baseDir.is_none() ? nullptr : dir.c_str());
        }
        if (!ok) raiseLast("ONNX import failed");
    }, py::arg("network"), py::arg("path"), py::arg("data"), py::arg("base_dir"), py::arg("batch"), py::arg("input_shapes"),
       py::arg("plugin_fallback"), "Import an ONNX model (a file path, or serialized bytes + base_dir) into `network`.");
    m.def("_onnx_operators", [] {
        std::vector<std::string> ops;
        for (int32_t i = 0; i < getNbOnnxOperators(); ++i) ops.emplace_back(getOnnxOperator(i));
        return ops;
    }, "The default-domain ONNX op types the importer converts or folds.");
    // ---- end of the ONNX importer block -------------------------------------------------------------------

    // ---- refit (gie/engine.h IRefitter): gie/refit.py wraps it --------------------------------------------------
    py::class_<Refitter>(m, "_Refitter")
        .def(py::init([](std::shared_ptr<Engine> e) {
            auto r = std::make_unique<Refitter>();
            r->engine = e;
            r->refitter.reset(check(createRefitter(*e->engine, *e->logger), "Refitter"));
            return r;
        }))
        .def("set_weights", [](Refitter& r, const std::string& layer, const std::string& field,
                               py::array_t<float, py::array::c_style | py::array::forcecast> values) {
            check(r.refitter->setWeights(layer.c_str(), field.c_str(), values.data(), static_cast<int64_t>(values.size())),
                  "set_weights('" + layer + "', '" + field + "')");
        })
        .def("set_network", [](Refitter& r, const INetworkDefinition& n) {
            bool ok;
            {
                py::gil_scoped_release nogil;
                ok = r.refitter->setNetworkWeights(n);
            }
            check(ok, "set_network");
        })
        .def("refit", [](Refitter& r) {
            auto e = std::make_shared<Engine>();
            e->logger = r.engine->logger;
            {
                py::gil_scoped_release nogil;
                e->engine.reset(r.refitter->refitEngine());
            }
            check(e->engine.get(), "refit");
            return e;
        });

    py::class_<Runtime>(m, "_Runtime")
        .def(py::init([](py::function log) {
            auto r = std::make_unique<Runtime>();
            r->logger = std::make_shared<PyLogger>(std::move(log));
            r->runtime.reset(check(createRuntime(*r->logger), "createRuntime"));
            return r;
        }))
        .def("deserialize", [](Runtime& r, py::bytes data) {
            std::string buf = data;  // a private copy: the engine never aliases Python memory
            auto e = std::make_shared<Engine>();
            e->logger = r.logger;
            {
                py::gil_scoped_release nogil;
                e->engine.reset(r.runtime->deserializeEngine(buf.data(), buf.size()));
            }
            check(e->engine.get(), "deserialize");
            return e;
        });
    bindCaffeDarknetImporters(m);   // Caffe / Darknet importers (issue 16)
    bindCalibration(m);             // INT8 calibration (issue 14)
    bindOptimizationProfiles(m);    // dynamic shapes (issue 15)
}
