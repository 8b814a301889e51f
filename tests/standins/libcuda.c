/* Stand-in CUDA driver for tests (see README.md): one GPU, described by environment variables. */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

static const char *env(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value ? value : fallback;
}
int cuInit(unsigned flags) { (void)flags; return 0; }
int cuDriverGetVersion(int *version) { *version = 12020; return 0; }
int cuDeviceGetCount(int *count) { *count = 1; return 0; }
int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return ordinal == 0 ? 0 : 101; }
int cuDeviceGetName(char *name, int len, int device) {
    (void)device; strncpy(name, env("STANDIN_GPU", "Orin"), len - 1); name[len - 1] = 0; return 0;
}
int cuDeviceGetAttribute(int *value, int attribute, int device) {
    const char *cc = env("STANDIN_CC", "8.7");
    (void)device;
    if (attribute == 75) *value = atoi(cc);
    else if (attribute == 76) *value = atoi(strchr(cc, '.') ? strchr(cc, '.') + 1 : "0");
    else if (attribute == 18) *value = 1; /* integrated, like a Jetson */
    else *value = 0;
    return 0;
}
int cuDeviceTotalMem_v2(size_t *bytes, int device) {
    (void)device; *bytes = (size_t)atol(env("STANDIN_MEMORY_MB", "8192")) << 20; return 0;
}
int cuDevicePrimaryCtxRetain(void **context, int device) { (void)device; *context = (void *)1; return 0; }
int cuDevicePrimaryCtxRelease_v2(int device) { (void)device; return 0; }
int cuCtxPushCurrent_v2(void *context) { (void)context; return 0; }
int cuCtxPopCurrent_v2(void **context) { *context = (void *)1; return 0; }
int cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
    *total = (size_t)atol(env("STANDIN_MEMORY_MB", "8192")) << 20;
    *free_bytes = (size_t)atol(env("STANDIN_FREE_MB", "6000")) << 20;
    return 0;
}
