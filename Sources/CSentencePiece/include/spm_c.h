#ifndef SPM_C_H
#define SPM_C_H
// Plain C API over sentencepiece::SentencePieceProcessor. Only C types cross this
// boundary, so Swift imports it without C++ interop.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_processor spm_processor;   // opaque

/// Returns NULL on failure and copies the error message into err.
spm_processor *spm_load(const char *model_path, char *err, size_t err_len);
spm_processor *spm_load_from_memory(const void *data, size_t len, char *err, size_t err_len);
void spm_free(spm_processor *p);

int spm_vocab_size(const spm_processor *p);
int spm_bos_id(const spm_processor *p);
int spm_eos_id(const spm_processor *p);
int spm_unk_id(const spm_processor *p);
int spm_pad_id(const spm_processor *p);

/// One encoded piece: id and the byte range [begin, end) it covers in the input.
typedef struct spm_piece { int32_t id; uint32_t begin; uint32_t end; } spm_piece;

/// Encodes len bytes of UTF-8. Writes up to cap pieces into out and returns the total
/// count (call again with a bigger buffer when it exceeds cap), or -1 on error.
long spm_encode(const spm_processor *p, const char *text, size_t len, spm_piece *out, size_t cap);

/// Ids only (faster: no offsets).
long spm_encode_ids(const spm_processor *p, const char *text, size_t len, int32_t *out, size_t cap);

/// Decodes ids into a malloc'd NUL-terminated UTF-8 string (free with spm_free_buf).
char *spm_decode_ids(const spm_processor *p, const int32_t *ids, size_t n, size_t *out_len);

int spm_piece_to_id(const spm_processor *p, const char *piece, size_t len);
/// malloc'd piece string (free with spm_free_buf), NULL if id is out of range.
char *spm_id_to_piece(const spm_processor *p, int id, size_t *out_len);
int spm_is_control(const spm_processor *p, int id);
int spm_is_unknown(const spm_processor *p, int id);
int spm_is_byte(const spm_processor *p, int id);

void spm_free_buf(void *buf);

#ifdef __cplusplus
}
#endif
#endif
