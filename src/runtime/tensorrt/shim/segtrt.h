/* segtrt: the C ABI segstream needs from TensorRT 10, and nothing more.
 *
 * Why a shim: TensorRT 10 has only a C++ API (the old C-callable entry points and the
 * tensorrt-rs bindings stop at TensorRT 7). Rust cannot call C++ virtual methods safely,
 * so this file wraps the handful of calls an inference loop needs behind plain C
 * functions. It is built on the target (Jetson / desktop with TensorRT) by
 * deploy/tensorrt/build-shim.sh and loaded by segstream at run time with dlopen, so the
 * Rust crate builds everywhere, with or without TensorRT.
 *
 * Every function that can fail returns 0 on success and a negative value on failure;
 * segtrt_last_error() then describes the failure. Pointers returned stay valid while the
 * engine lives. Not thread-safe per engine: one engine per streaming thread.
 */
#ifndef SEGTRT_H
#define SEGTRT_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEGTRT_ABI_VERSION 1
#define SEGTRT_MAX_DIMS 8

typedef struct SegTrtEngine SegTrtEngine;

/* ABI version of the shim, compared against SEGTRT_ABI_VERSION by the loader. */
int32_t segtrt_abi_version(void);
/* TensorRT version the shim was built against (e.g. 100300 for 10.3.0). */
int32_t segtrt_tensorrt_version(void);

/* Deserialises a plan file (built by trtexec) and creates one execution context.
 * Returns NULL on failure and writes a message into err (always NUL-terminated). */
SegTrtEngine *segtrt_load(const char *plan_path, char *err, size_t err_len);
void segtrt_free(SegTrtEngine *engine);
const char *segtrt_last_error(const SegTrtEngine *engine);

/* I/O tensors: count, names, direction (1 input, 0 output), data type (TensorRT's
 * DataType enum: 0 = kFLOAT, 3 = kINT32, 8 = kINT64). */
int32_t segtrt_num_io(const SegTrtEngine *engine);
const char *segtrt_io_name(const SegTrtEngine *engine, int32_t index);
int32_t segtrt_io_is_input(const SegTrtEngine *engine, const char *name);
int32_t segtrt_io_dtype(const SegTrtEngine *engine, const char *name);

/* Shapes: set an input's runtime shape (dynamic dims must lie in the optimisation
 * profile), read any tensor's current shape (returns the rank, or < 0). */
int32_t segtrt_set_input_shape(SegTrtEngine *engine, const char *name, const int64_t *dims, int32_t rank);
int32_t segtrt_tensor_shape(const SegTrtEngine *engine, const char *name, int64_t *dims, int32_t capacity);

/* Binds a device buffer to a tensor, then runs the engine on a CUDA stream. */
int32_t segtrt_set_address(SegTrtEngine *engine, const char *name, void *device_ptr);
int32_t segtrt_enqueue(SegTrtEngine *engine, void *cuda_stream);

#ifdef __cplusplus
}
#endif
#endif
