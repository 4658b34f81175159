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

// Keeps the last error TensorRT reported, so the caller gets a cause, not a code.
class Logger final : public nvinfer1::ILogger {
public:
    void log(Severity severity, const char *msg) noexcept override {
        if (severity <= Severity::kERROR) last = msg;
        if (severity <= Severity::kWARNING) std::fprintf(stderr, "segtrt: %s\n", msg);
    }
    std::string last;
};

void write_err(char *err, size_t len, const std::string &msg) {
    if (err == nullptr || len == 0) return;
    std::snprintf(err, len, "%s", msg.c_str());
}

}  // namespace

struct SegTrtEngine {
    Logger logger;
    std::unique_ptr<nvinfer1::IRuntime> runtime;
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
    std::unique_ptr<nvinfer1::IExecutionContext> context;
    std::string error;

    int32_t fail(const std::string &what) {
        error = logger.last.empty() ? what : what + ": " + logger.last;
        return -1;
    }
};

extern "C" {

int32_t segtrt_abi_version(void) { return SEGTRT_ABI_VERSION; }

int32_t segtrt_tensorrt_version(void) {
    return NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;
}

SegTrtEngine *segtrt_load(const char *plan_path, char *err, size_t err_len) {
    std::ifstream file(plan_path, std::ios::binary);
    if (!file) {
        write_err(err, err_len, std::string("cannot open TensorRT plan ") + plan_path);
        return nullptr;
    }
    std::vector<char> plan((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    auto e = std::make_unique<SegTrtEngine>();
    e->runtime.reset(nvinfer1::createInferRuntime(e->logger));
    if (e->runtime) e->engine.reset(e->runtime->deserializeCudaEngine(plan.data(), plan.size()));
    if (e->engine) e->context.reset(e->engine->createExecutionContext());
    if (!e->context) {
        std::string why = e->logger.last.empty() ? "unknown TensorRT error" : e->logger.last;
        write_err(err, err_len, std::string("cannot load TensorRT plan ") + plan_path + ": " + why);
        return nullptr;
    }
    return e.release();
}

void segtrt_free(SegTrtEngine *engine) { delete engine; }

const char *segtrt_last_error(const SegTrtEngine *engine) { return engine->error.c_str(); }

int32_t segtrt_num_io(const SegTrtEngine *engine) { return engine->engine->getNbIOTensors(); }

const char *segtrt_io_name(const SegTrtEngine *engine, int32_t index) {
    return engine->engine->getIOTensorName(index);
}

int32_t segtrt_io_is_input(const SegTrtEngine *engine, const char *name) {
    return engine->engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0;
}

int32_t segtrt_io_dtype(const SegTrtEngine *engine, const char *name) {
    return static_cast<int32_t>(engine->engine->getTensorDataType(name));
}

int32_t segtrt_set_input_shape(SegTrtEngine *engine, const char *name, const int64_t *dims, int32_t rank) {
    if (rank < 0 || rank > nvinfer1::Dims::MAX_DIMS) return engine->fail("rank out of range");
    nvinfer1::Dims shape{};
    shape.nbDims = rank;
    for (int32_t i = 0; i < rank; ++i) shape.d[i] = dims[i];
    if (!engine->context->setInputShape(name, shape)) {
        return engine->fail(std::string("setInputShape failed for ") + name);
    }
    return 0;
}

int32_t segtrt_tensor_shape(const SegTrtEngine *engine, const char *name, int64_t *dims, int32_t capacity) {
    nvinfer1::Dims shape = engine->context->getTensorShape(name);
    if (shape.nbDims < 0 || shape.nbDims > capacity) return -1;
    for (int32_t i = 0; i < shape.nbDims; ++i) dims[i] = shape.d[i];
    return shape.nbDims;
}

int32_t segtrt_set_address(SegTrtEngine *engine, const char *name, void *device_ptr) {
    if (!engine->context->setTensorAddress(name, device_ptr)) {
        return engine->fail(std::string("setTensorAddress failed for ") + name);
    }
    return 0;
}

int32_t segtrt_enqueue(SegTrtEngine *engine, void *cuda_stream) {
    if (!engine->context->enqueueV3(static_cast<cudaStream_t>(cuda_stream))) {
        return engine->fail("enqueueV3 failed");
    }
    return 0;
}

}  // extern "C"
