/* Stand-in libedgetpu.so.1 (see README.md): the TFLite external-delegate interface
 * (tflite_plugin_create_delegate / tflite_plugin_destroy_delegate) that the LiteRT
 * interpreter's load_delegate opens, with a delegate that takes no nodes, so every op runs on
 * LiteRT's own CPU kernels. It lets tests drive mllib's Edge TPU adapter (the library found by
 * name, the delegate handed to the interpreter, its options) and verifies nothing about a TPU.
 * A "device" option other than usb, pci or pci:N is refused, as libedgetpu refuses one it
 * cannot open. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct TfLiteDelegate {
  void *data_;
  int (*Prepare)(void *context, struct TfLiteDelegate *delegate);
  int (*CopyFromBufferHandle)(void *, struct TfLiteDelegate *, int, void *);
  int (*CopyToBufferHandle)(void *, struct TfLiteDelegate *, int, void *);
  void (*FreeBufferHandle)(void *, struct TfLiteDelegate *, int *);
  int64_t flags;
  void *opaque_delegate_builder;
} TfLiteDelegate;

static int prepare(void *context, TfLiteDelegate *delegate) {
  (void)context;
  (void)delegate;
  return 0; /* kTfLiteOk, no node replaced */
}

TfLiteDelegate *tflite_plugin_create_delegate(char **keys, char **values, size_t count,
                                              void (*report_error)(const char *)) {
  for (size_t i = 0; i < count; i++) {
    if (strcmp(keys[i], "device") == 0 && strcmp(values[i], "usb") != 0 &&
        strncmp(values[i], "pci", 3) != 0) {
      report_error("stand-in libedgetpu: no Edge TPU device of that name");
      return NULL;
    }
  }
  TfLiteDelegate *delegate = calloc(1, sizeof(TfLiteDelegate));
  if (delegate != NULL) delegate->Prepare = prepare;
  return delegate;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate *delegate) { free(delegate); }
