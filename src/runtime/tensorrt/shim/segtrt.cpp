// Implementation of segtrt.h on TensorRT 10 (see the header for why this exists).
// Built only where TensorRT is installed: deploy/tensorrt/build-shim.sh.
#include "segtrt.h"

#include <NvInferRuntime.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

// One logger for the whole process. TensorRT keeps the logger of the first runtime it
// creates as its global logger, so a logger owned by one engine would be left dangling for
// the others when that engine is freed first. This one is never destroyed (no exit-order
// hazard either). TensorRT logs on the calling thread, so the last error is thread-local:
// each call clears it first and reads it after.
class Logger final : public nvinfer1::ILogger {
public:
    void log(Severity severity, const char *msg) noexcept override {
        if (severity <= Severity::kERROR) last_error() = msg;
        if (severity <= Severity::kWARNING) std::fprintf(stderr, "segtrt: %s\n", msg);
    }
    static std::string &last_error() {
        thread_local std::string last;
        return last;
    }
};

Logger &logger() {
    static Logger *l = new Logger();  // leaked on purpose: outlives every runtime
    return *l;
}

void write_err(char *err, size_t len, const std::string &msg) {
    if (err == nullptr || len == 0) return;
    std::snprintf(err, len, "%s", msg.c_str());
}

std::string with_cause(const std::string &what) {
    const std::string &last = Logger::last_error();
    return last.empty() ? what : what + ": " + last;
}

}  // namespace

struct SegTrtEngine {
    std::unique_ptr<nvinfer1::IRuntime> runtime;
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
    std::unique_ptr<nvinfer1::IExecutionContext> context;
    std::string error;

    int32_t fail(const std::string &what) {
        error = with_cause(what);
        return -1;
    }
};

// No C++ exception may cross the C ABI (unwinding into Rust is undefined behaviour): every
// entry point runs its body inside SEGTRT_GUARD, which turns an exception into the
// function's failure value and, where there is an engine, its error text.
#define SEGTRT_GUARD(engine, failure, body)                                              \
    try {                                                                                \
        Logger::last_error().clear();                                                    \
        body                                                                             \
    } catch (const std::exception &ex) {                                                 \
        if (engine) const_cast<SegTrtEngine *>(engine)->error = std::string("C++ exception: ") + ex.what(); \
        return failure;                                                                  \
    } catch (...) {                                                                      \
        if (engine) const_cast<SegTrtEngine *>(engine)->error = "unknown C++ exception"; \
        return failure;                                                                  \
    }

extern "C" {

int32_t segtrt_abi_version(void) { return SEGTRT_ABI_VERSION; }

int32_t segtrt_tensorrt_version(void) {
    return NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;
}

SegTrtEngine *segtrt_load(const char *plan_path, char *err, size_t err_len) {
    try {
        Logger::last_error().clear();
        std::ifstream file(plan_path, std::ios::binary);
        if (!file) {
            write_err(err, err_len, std::string("cannot open TensorRT plan ") + plan_path);
            return nullptr;
        }
        std::vector<char> plan((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        auto e = std::make_unique<SegTrtEngine>();
        e->runtime.reset(nvinfer1::createInferRuntime(logger()));
        if (e->runtime) e->engine.reset(e->runtime->deserializeCudaEngine(plan.data(), plan.size()));
        if (e->engine) e->context.reset(e->engine->createExecutionContext());
        if (!e->context) {
            write_err(err, err_len, with_cause(std::string("cannot load TensorRT plan ") + plan_path));
            return nullptr;
        }
        return e.release();
    } catch (const std::exception &ex) {
        write_err(err, err_len, std::string("cannot load TensorRT plan: C++ exception: ") + ex.what());
    } catch (...) {
        write_err(err, err_len, "cannot load TensorRT plan: unknown C++ exception");
    }
    return nullptr;
}

void segtrt_free(SegTrtEngine *engine) {
    try {
        delete engine;  // context, engine, runtime: members are destroyed in reverse order
    } catch (...) {
    }
}

const char *segtrt_last_error(const SegTrtEngine *engine) { return engine ? engine->error.c_str() : "no engine"; }

int32_t segtrt_num_io(const SegTrtEngine *engine) {
    SEGTRT_GUARD(engine, -1, { return engine->engine->getNbIOTensors(); })
}

const char *segtrt_io_name(const SegTrtEngine *engine, int32_t index) {
    SEGTRT_GUARD(engine, static_cast<const char *>(nullptr), {
        if (index < 0 || index >= engine->engine->getNbIOTensors()) return static_cast<const char *>(nullptr);
        return engine->engine->getIOTensorName(index);
    })
}

int32_t segtrt_io_is_input(const SegTrtEngine *engine, const char *name) {
    SEGTRT_GUARD(engine, -1, { return engine->engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0; })
}

int32_t segtrt_io_dtype(const SegTrtEngine *engine, const char *name) {
    SEGTRT_GUARD(engine, -1, { return static_cast<int32_t>(engine->engine->getTensorDataType(name)); })
}

int32_t segtrt_set_input_shape(SegTrtEngine *engine, const char *name, const int64_t *dims, int32_t rank) {
    SEGTRT_GUARD(engine, -1, {
        if (rank < 0 || rank > nvinfer1::Dims::MAX_DIMS) return engine->fail("rank out of range");
        nvinfer1::Dims shape{};
        shape.nbDims = rank;
        for (int32_t i = 0; i < rank; ++i) shape.d[i] = dims[i];
        if (!engine->context->setInputShape(name, shape)) {
            return engine->fail(std::string("setInputShape failed for ") + name);
        }
        return 0;
    })
}

int32_t segtrt_tensor_shape(const SegTrtEngine *engine, const char *name, int64_t *dims, int32_t capacity) {
    SEGTRT_GUARD(engine, -1, {
        nvinfer1::Dims shape = engine->context->getTensorShape(name);
        if (shape.nbDims < 0 || shape.nbDims > capacity) return -1;
        for (int32_t i = 0; i < shape.nbDims; ++i) dims[i] = shape.d[i];
        return shape.nbDims;
    })
}

int32_t segtrt_set_address(SegTrtEngine *engine, const char *name, void *device_ptr) {
    SEGTRT_GUARD(engine, -1, {
        if (!engine->context->setTensorAddress(name, device_ptr)) {
            return engine->fail(std::string("setTensorAddress failed for ") + name);
        }
        return 0;
    })
}

int32_t segtrt_enqueue(SegTrtEngine *engine, void *cuda_stream) {
    SEGTRT_GUARD(engine, -1, {
        if (!engine->context->enqueueV3(static_cast<cudaStream_t>(cuda_stream))) {
            return engine->fail("enqueueV3 failed");
        }
        return 0;
    })
}

}  // extern "C"
