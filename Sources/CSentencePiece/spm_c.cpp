#include "spm_c.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct spm_processor {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {
void copy_err(const std::string &msg, char *err, size_t err_len) {
    if (!err || err_len == 0) return;
    size_t n = msg.size() < err_len - 1 ? msg.size() : err_len - 1;
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}
char *dup_buf(const std::string &s, size_t *out_len) {
    char *b = static_cast<char *>(std::malloc(s.size() + 1));
    if (!b) return nullptr;
    std::memcpy(b, s.data(), s.size());
    b[s.size()] = '\0';
    if (out_len) *out_len = s.size();
    return b;
}
}  // namespace

extern "C" {

spm_processor *spm_load(const char *model_path, char *err, size_t err_len) {
    try {
        auto p = std::make_unique<spm_processor>();
        auto st = p->sp.Load(model_path);
        if (!st.ok()) { copy_err(st.ToString(), err, err_len); return nullptr; }
        return p.release();
    } catch (const std::exception &e) {
        copy_err(e.what(), err, err_len);
        return nullptr;
    }
}

spm_processor *spm_load_from_memory(const void *data, size_t len, char *err, size_t err_len) {
    try {
        auto p = std::make_unique<spm_processor>();
        auto st = p->sp.LoadFromSerializedProto(
            std::string_view(static_cast<const char *>(data), len));
        if (!st.ok()) { copy_err(st.ToString(), err, err_len); return nullptr; }
        return p.release();
    } catch (const std::exception &e) {
        copy_err(e.what(), err, err_len);
        return nullptr;
    }
}

void spm_free(spm_processor *p) { delete p; }

int spm_vocab_size(const spm_processor *p) { return p->sp.GetPieceSize(); }
int spm_bos_id(const spm_processor *p) { return p->sp.bos_id(); }
int spm_eos_id(const spm_processor *p) { return p->sp.eos_id(); }
int spm_unk_id(const spm_processor *p) { return p->sp.unk_id(); }
int spm_pad_id(const spm_processor *p) { return p->sp.pad_id(); }

long spm_encode(const spm_processor *p, const char *text, size_t len, spm_piece *out, size_t cap) {
    try {
        sentencepiece::ImmutableSentencePieceText spt;
        auto st = p->sp.Encode(std::string_view(text, len), spt.mutable_proto());
        if (!st.ok()) return -1;
        size_t n = spt.pieces_size();
        for (size_t i = 0; i < n && i < cap; ++i) {
            auto piece = spt.pieces(static_cast<int>(i));
            out[i].id = static_cast<int32_t>(piece.id());
            out[i].begin = piece.begin();
            out[i].end = piece.end();
        }
        return static_cast<long>(n);
    } catch (...) {
        return -1;
    }
}

long spm_encode_ids(const spm_processor *p, const char *text, size_t len, int32_t *out, size_t cap) {
    try {
        std::vector<int> ids;
        auto st = p->sp.Encode(std::string_view(text, len), &ids);
        if (!st.ok()) return -1;
        for (size_t i = 0; i < ids.size() && i < cap; ++i) out[i] = ids[i];
        return static_cast<long>(ids.size());
    } catch (...) {
        return -1;
    }
}

char *spm_decode_ids(const spm_processor *p, const int32_t *ids, size_t n, size_t *out_len) {
    try {
        std::vector<int> v(ids, ids + n);
        std::string out;
        auto st = p->sp.Decode(v, &out);
        if (!st.ok()) return nullptr;
        return dup_buf(out, out_len);
    } catch (...) {
        return nullptr;
    }
}

int spm_piece_to_id(const spm_processor *p, const char *piece, size_t len) {
    return p->sp.PieceToId(std::string_view(piece, len));
}

char *spm_id_to_piece(const spm_processor *p, int id, size_t *out_len) {
    if (id < 0 || id >= p->sp.GetPieceSize()) return nullptr;
    return dup_buf(p->sp.IdToPiece(id), out_len);
}

int spm_is_control(const spm_processor *p, int id) { return p->sp.IsControl(id); }
int spm_is_unknown(const spm_processor *p, int id) { return p->sp.IsUnknown(id); }
int spm_is_byte(const spm_processor *p, int id) { return p->sp.IsByte(id); }

void spm_free_buf(void *buf) { std::free(buf); }

}  // extern "C"
