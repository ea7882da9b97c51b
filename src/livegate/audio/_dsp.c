/* livegate's audio hot loops in C: the exact polyphase FIR of livegate.audio.resample, the frame
 * energies of livegate.audio.vad, and Ingest, which does all of one client audio frame in one call
 * (livegate.audio.ingest). The same exact integer sums as the numpy reference (integer taps, integer
 * samples, round half to even), so both give the same bytes; tests/audio compare them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* acc / 2**bits rounded half to even, clipped to int16: floor((acc + half - 1 + odd) / 2**bits), with
 * odd the parity of floor(acc / 2**bits). Shifted as acc + 2**62, never negative (|acc| < 2**53). */
static inline int16_t round_q(int64_t acc, int bits) {
    int64_t q = acc;
    if (bits > 0) {
        uint64_t u = (uint64_t)acc + ((uint64_t)1 << 62);
        uint64_t odd = (u >> bits) & 1;
        q = (int64_t)((u + ((uint64_t)1 << (bits - 1)) - 1 + odd) >> bits) - ((int64_t)1 << (62 - bits));
    }
    if (q > 32767) q = 32767;
    if (q < -32768) q = -32768;
    return (int16_t)q;
}

/* The taps in the form the kernel multiplies: every tap is high * 2**shift + low, with high and low
 * int16 and low in 0 .. 2**shift - 1. The shift is the least for which no partial sum of either half
 * can leave int32, whatever the samples: then both sums are exact in any order, so the compiler may
 * vectorise them (pmaddwd on x86), and the whole is exactly the sum of integer products that the
 * float64 numpy reference computes. */
typedef struct {
    int16_t *high, *low;
    int shift;
} Taps;

static void taps_free(Taps *taps) {
    PyMem_Free(taps->high);
    PyMem_Free(taps->low);
    taps->high = taps->low = NULL;
}

static int taps_split(const double *h, int up, int span, Taps *taps) {
    Py_ssize_t total = (Py_ssize_t)up * span;
    for (Py_ssize_t i = 0; i < total; i++) {
        if (!(h[i] > -2147483648.0 && h[i] < 2147483648.0) || h[i] != (double)(int64_t)h[i]) {
            PyErr_SetString(PyExc_ValueError, "taps must be integers of at most 31 bits");
            return -1;
        }
    }
    for (int shift = 0; shift < 16; shift++) {
        int fits = (int64_t)span * (((int64_t)1 << shift) - 1) * 32768 <= INT32_MAX;
        for (int p = 0; fits && p < up; p++) {
            int64_t sum = 0;
            for (int t = 0; t < span; t++) {
                int64_t v = (int64_t)h[p * span + t];
                int64_t high = v >= 0 ? v >> shift : -((-v - 1) >> shift) - 1;
                if (high > 32767 || high < -32768) fits = 0;
                sum += high < 0 ? -high : high;
            }
            if (sum * 32768 > INT32_MAX) fits = 0;
        }
        if (!fits) continue;
        taps->high = PyMem_Malloc(total * sizeof(int16_t));
        taps->low = PyMem_Malloc(total * sizeof(int16_t));
        if (taps->high == NULL || taps->low == NULL) {
            taps_free(taps);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < total; i++) {
            int64_t v = (int64_t)h[i];
            int64_t high = v >= 0 ? v >> shift : -((-v - 1) >> shift) - 1;
            taps->high[i] = (int16_t)high;
            taps->low[i] = (int16_t)(v - high * ((int64_t)1 << shift));
        }
        taps->shift = shift;
        return 0;
    }
    PyErr_SetString(PyExc_ValueError, "taps too large for an exact sum in int32 halves");
    return -1;
}

static inline int64_t dot(const int16_t *high, const int16_t *low, const int16_t *x, int span, int shift) {
    int32_t hi = 0, lo = 0;
    for (int t = 0; t < span; t++) {
        hi += high[t] * x[t];
        lo += low[t] * x[t];
    }
    return (int64_t)hi * ((int64_t)1 << shift) + lo;
}

/* Outputs of blocks first .. first+count-1 into out. x holds stream samples start .. start+n-1; the
 * taps are `up` phases of `span` each, every phase reversed (oldest sample first), in Q`bits`; output j
 * of block b uses the newest input b*down + offsets[j] with phase (j*down) % up.
 * -1 when a window reaches outside x (the callers keep enough history: never). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
/* The same integer sums, in AVX2's wider lanes where the CPU has them (chosen once, at load). */
__attribute__((target_clones("avx2", "default")))
#endif
static int fir_blocks(const int16_t *x, int64_t n, int64_t start, const Taps *taps, int up, int down, int span,
                      const int64_t *offsets, int bits, int64_t first, int64_t count, int16_t *out) {
    int64_t phase[64], least = offsets[0], most = offsets[0];
    for (int j = 0; j < up; j++) {
        phase[j] = (int64_t)((j * down) % up) * span;
        least = offsets[j] < least ? offsets[j] : least;
        most = offsets[j] > most ? offsets[j] : most;
    }
    if (count > 0 && (first * down + least - start - span + 1 < 0 || (first + count - 1) * down + most - start + 1 > n))
        return -1;
    for (int64_t b = 0; b < count; b++) {
        const int16_t *block = x + (first + b) * down - start - span + 1;
        for (int j = 0; j < up; j++)
            *out++ = round_q(dot(taps->high + phase[j], taps->low + phase[j], block + offsets[j], span, taps->shift), bits);
    }
    return 0;
}

static int read_offsets(PyObject *offsets_obj, int up, int64_t *offsets) {
    if (up < 1 || up > 64 || !PyTuple_Check(offsets_obj) || PyTuple_GET_SIZE(offsets_obj) != up) {
        PyErr_SetString(PyExc_ValueError, "offsets must be a tuple of `up` integers, 1 <= up <= 64");
        return -1;
    }
    for (int j = 0; j < up; j++) {
        offsets[j] = PyLong_AsLongLong(PyTuple_GET_ITEM(offsets_obj, j));
        if (offsets[j] == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

/* polyphase(samples, taps, up, down, span, bits, offsets, first, blocks, start) -> bytes
 * samples: int16 LE, stream indices start .. start+len-1; the rest as fir_blocks takes them. */
static PyObject *polyphase(PyObject *self, PyObject *args) {
    Py_buffer samples, taps;
    int up, down, span, bits;
    PyObject *offsets_obj;
    Py_ssize_t first, blocks, start;
    if (!PyArg_ParseTuple(args, "y*y*iiiiOnnn", &samples, &taps, &up, &down, &span, &bits, &offsets_obj, &first, &blocks, &start))
        return NULL;
    PyObject *result = NULL;
    Taps split = {NULL, NULL, 0};
    int64_t offsets[64];
    if (read_offsets(offsets_obj, up, offsets) < 0) goto done;
    if (span < 1 || down < 1 || bits < 0 || bits > 52 || taps.len < (Py_ssize_t)up * span * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "taps shorter than up * span, or bits outside 0 .. 52");
        goto done;
    }
    if (taps_split((const double *)taps.buf, up, span, &split) < 0) goto done;
    result = PyBytes_FromStringAndSize(NULL, blocks * up * 2);
    if (result == NULL) goto done;
    if (fir_blocks((const int16_t *)samples.buf, samples.len / 2, start, &split, up, down, span, offsets, bits, first, blocks,
                   (int16_t *)PyBytes_AS_STRING(result)) < 0) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, "a window reaches outside the samples");
    }
done:
    taps_free(&split);
    PyBuffer_Release(&samples);
    PyBuffer_Release(&taps);
    return result;
}

/* energies(samples, frame) -> list of the sum of squares of each whole frame of int16 samples */
static PyObject *energies(PyObject *self, PyObject *args) {
    Py_buffer samples;
    Py_ssize_t frame;
    if (!PyArg_ParseTuple(args, "y*n", &samples, &frame)) return NULL;
    const int16_t *x = (const int16_t *)samples.buf;
    Py_ssize_t count = frame > 0 ? samples.len / 2 / frame : 0;
    PyObject *list = PyList_New(count);
    for (Py_ssize_t f = 0; list != NULL && f < count; f++) {
        int64_t sum = 0;
        for (Py_ssize_t i = f * frame; i < (f + 1) * frame; i++) sum += (int64_t)x[i] * x[i];
        PyObject *value = PyLong_FromLongLong(sum);
        if (value == NULL) Py_CLEAR(list);
        else PyList_SET_ITEM(list, f, value);
    }
    PyBuffer_Release(&samples);
    return list;
}

/* ---- Ingest ----------------------------------------------------------------------------------- */

/* RFC 4648 §4: the base64 alphabet; its inverse marks every other byte 0xFF. */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static uint8_t B64_VALUE[256];

/* The length of what `s` decodes to if it is canonical base64 (RFC 4648 §3.2, §3.5, §4: padded to a
 * multiple of four, padding only at the end), else -1. The characters are checked by b64_decode. */
static Py_ssize_t b64_decoded_length(const unsigned char *s, Py_ssize_t len) {
    if (len % 4) return -1;
    if (len == 0) return 0;
    int pads = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    return len / 4 * 3 - pads;
}

/* Decodes canonical base64 into out (b64_decoded_length bytes); -1 when a character is outside the
 * alphabet or the bits the padding leaves over are not zero (RFC 4648 §3.5): then the text is not the
 * encoding of any bytes, and Python's rules (livegate.realtime.checks) decide what it is. */
static int b64_decode(const unsigned char *s, Py_ssize_t len, unsigned char *out) {
    if (len == 0) return 0;
    int pads = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    Py_ssize_t groups = len / 4 - (pads != 0);
    uint32_t bad = 0;
    for (Py_ssize_t g = 0; g < groups; g++, s += 4, out += 3) {
        uint32_t a = B64_VALUE[s[0]], b = B64_VALUE[s[1]], c = B64_VALUE[s[2]], d = B64_VALUE[s[3]];
        bad |= a | b | c | d;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
        out[2] = (unsigned char)v;
    }
    if (pads) {
        uint32_t a = B64_VALUE[s[0]], b = B64_VALUE[s[1]], c = pads == 1 ? B64_VALUE[s[2]] : 0;
        bad |= a | b | c;
        if (pads == 2 ? (b & 0x0F) : (c & 0x03)) return -1;
        uint32_t v = a << 18 | b << 12 | c << 6;
        out[0] = (unsigned char)(v >> 16);
        if (pads == 1) out[1] = (unsigned char)(v >> 8);
    }
    return (bad & 0x80) ? -1 : 0;
}

static void b64_encode(const unsigned char *in, Py_ssize_t n, char *out) {
    Py_ssize_t i = 0;
    for (; i + 3 <= n; i += 3, out += 4) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[0] = B64[v >> 18];
        out[1] = B64[(v >> 12) & 63];
        out[2] = B64[(v >> 6) & 63];
        out[3] = B64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[0] = B64[v >> 18];
        out[1] = B64[(v >> 12) & 63];
        out[2] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[3] = '=';
    }
}

#define FRESH_SAMPLES 960  /* room for the new samples of an append (40 ms at 24 kHz), grown for a larger one */
#define HELD_SAMPLES 65536  /* a buffer grown past this by one huge append goes back to FRESH_SAMPLES */

typedef struct {
    PyObject_HEAD
    int g711;              /* the client sends G.711 codes, decoded through table; else PCM16 LE */
    int16_t table[256];
    int up, down, span;
    int bits;              /* the taps are in Q`bits` */
    Taps taps;
    int64_t offsets[64];
    int64_t keep;          /* input samples of history: span - 1 + down */
    int16_t *x;            /* keep samples of history, then the frame's new samples */
    int64_t capacity;      /* of x, in samples */
    int64_t consumed;      /* input samples received */
    int64_t blocks;        /* output blocks produced */
    int torn;              /* the low byte of a PCM16 sample is waiting for its high byte */
    unsigned char torn_byte;
    Py_ssize_t frame;      /* samples per detector frame; 0: no energies */
    int64_t partial;       /* sum of squares of the detector frame begun */
    Py_ssize_t partial_n;  /* its samples */
    PyObject *prefix, *suffix;
} Ingest;

static void Ingest_dealloc(Ingest *self) {
    PyTypeObject *type = Py_TYPE(self);
    taps_free(&self->taps);
    PyMem_Free(self->x);
    Py_XDECREF(self->prefix);
    Py_XDECREF(self->suffix);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* Ingest(table, taps, up, down, span, bits, offsets, frame, prefix, suffix, carry_sum=0, carry_count=0)
 * table: None for PCM16, else the 256 int16 LE samples of the G.711 codes; taps .. offsets as polyphase
 * takes them; frame: samples per detector frame (0: none); prefix and suffix: what goes before and after
 * the base64 of the output in the upstream message; carry: a detector frame begun (Ingest.carry). */
static PyObject *Ingest_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *table_obj, *offsets_obj, *prefix, *suffix;
    Py_buffer taps;
    int up, down, span, bits;
    Py_ssize_t frame, carry_count = 0;
    long long carry_sum = 0;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Ingest() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "Oy*iiiiOnSS|Ln", &table_obj, &taps, &up, &down, &span, &bits, &offsets_obj, &frame,
                          &prefix, &suffix, &carry_sum, &carry_count))
        return NULL;
    Ingest *self = (Ingest *)type->tp_alloc(type, 0);
    if (self == NULL) goto fail;
    if (read_offsets(offsets_obj, up, self->offsets) < 0) goto fail;
    if (span < 1 || down < 1 || bits < 0 || bits > 52 || frame < 0 || taps.len != (Py_ssize_t)up * span * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "taps must be up * span float64, down >= 1, 0 <= bits <= 52, frame >= 0");
        goto fail;
    }
    if (table_obj != Py_None) {
        if (!PyBytes_Check(table_obj) || PyBytes_GET_SIZE(table_obj) != 512) {
            PyErr_SetString(PyExc_ValueError, "table must be None or 256 int16 LE samples");
            goto fail;
        }
        const unsigned char *t = (const unsigned char *)PyBytes_AS_STRING(table_obj);
        for (int c = 0; c < 256; c++) {
            int v = t[2 * c] | t[2 * c + 1] << 8;
            self->table[c] = (int16_t)(v - ((v & 0x8000) << 1));
        }
        self->g711 = 1;
    }
    self->up = up;
    self->down = down;
    self->span = span;
    self->bits = bits;
    if (taps_split((const double *)taps.buf, up, span, &self->taps) < 0) goto fail;
    self->keep = span - 1 + down;
    self->capacity = self->keep + FRESH_SAMPLES;
    self->x = PyMem_Calloc((size_t)self->capacity, sizeof(int16_t));
    if (self->x == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    self->frame = frame;
    self->partial = carry_sum;
    self->partial_n = frame > 0 ? carry_count % frame : 0;
    Py_INCREF(prefix);
    Py_INCREF(suffix);
    self->prefix = prefix;
    self->suffix = suffix;
    PyBuffer_Release(&taps);
    return (PyObject *)self;
fail:
    Py_XDECREF(self);
    PyBuffer_Release(&taps);
    return NULL;
}

/* push(text, send) -> (message | None, raw, pcm, energies) | None
 * text: the client's base64; None (and nothing changed) when it is not canonical base64. raw: its bytes;
 * pcm: the 16 kHz PCM16 LE they complete; energies: the detector frames they complete; message: prefix,
 * the base64 of pcm, suffix, when send is true and there is pcm. */
static PyObject *ingest(Ingest *self, const unsigned char *s, Py_ssize_t len, int send);

static PyObject *Ingest_push(Ingest *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "push(text: str, send: bool)");
        return NULL;
    }
    int send = PyObject_IsTrue(args[1]);
    if (send < 0) return NULL;
    PyObject *text = args[0];
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    return ingest(self, PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), send);
}

/* The plain OpenAI Realtime append, as clients write it: one JSON object with "type" (exactly
 * "input_audio_buffer.append"), "audio" (a string of base64 characters) and, optionally, "event_id"
 * (printable ASCII with no escape, at most 512 characters: events.MAX_EVENT_ID), each once, in any
 * order, with JSON whitespace between tokens (RFC 8259 §2). Anything else, including what is valid
 * JSON but written otherwise (escapes, other keys), is not recognised: the caller parses it. Returns
 * the audio's span in `s`, or 0 when `s` is not such an event. */
static inline Py_ssize_t skip_ws(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static int plain_append(const unsigned char *s, Py_ssize_t n, Py_ssize_t *audio_at, Py_ssize_t *audio_len) {
    static const char TYPE[] = "input_audio_buffer.append";
    int seen_type = 0, seen_audio = 0, seen_id = 0;
    Py_ssize_t i = skip_ws(s, 0, n);
    if (i >= n || s[i++] != '{') return 0;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i++] != '"') return 0;
        Py_ssize_t key = i;
        while (i < n && s[i] != '"' && s[i] != '\\') i++;
        if (i >= n || s[i] != '"') return 0;
        Py_ssize_t key_len = i - key;
        i = skip_ws(s, i + 1, n);
        if (i >= n || s[i++] != ':') return 0;
        i = skip_ws(s, i, n);
        if (i >= n || s[i++] != '"') return 0;
        Py_ssize_t value = i;
        if (key_len == 4 && memcmp(s + key, "type", 4) == 0 && !seen_type) {
            seen_type = 1;
            Py_ssize_t len = (Py_ssize_t)sizeof(TYPE) - 1;
            if (n - i < len + 1 || memcmp(s + i, TYPE, (size_t)len) != 0 || s[i + len] != '"') return 0;
            i += len + 1;
        } else if (key_len == 5 && memcmp(s + key, "audio", 5) == 0 && !seen_audio) {
            seen_audio = 1;
            while (i < n && (B64_VALUE[s[i]] != 0xFF || s[i] == '=')) i++;
            if (i >= n || s[i] != '"') return 0;
            *audio_at = value;
            *audio_len = i - value;
            i++;
        } else if (key_len == 8 && memcmp(s + key, "event_id", 8) == 0 && !seen_id) {
            seen_id = 1;
            while (i < n && s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\') i++;
            if (i >= n || s[i] != '"' || i - value > 512) return 0;
            i++;
        } else {
            return 0;
        }
        i = skip_ws(s, i, n);
        if (i >= n) return 0;
        if (s[i] == ',') {
            i++;
            continue;
        }
        if (s[i++] != '}') return 0;
        return seen_type && seen_audio && skip_ws(s, i, n) == n;
    }
}

/* push_event(frame, send) -> push's result | None
 * frame: a client's WebSocket message; None, and nothing changed, unless it is a plain append
 * (plain_append) whose audio is canonical base64: the caller then reads the frame its own way. */
static PyObject *Ingest_push_event(Ingest *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "push_event(frame: bytes, send: bool)");
        return NULL;
    }
    int send = PyObject_IsTrue(args[1]);
    if (send < 0) return NULL;
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t at = 0, len = 0;
    if (!plain_append(s, PyBytes_GET_SIZE(args[0]), &at, &len)) Py_RETURN_NONE;
    return ingest(self, s + at, len, send);
}

static PyObject *ingest(Ingest *self, const unsigned char *s, Py_ssize_t len, int send) {
    Py_ssize_t raw_len = b64_decoded_length(s, len);
    if (raw_len < 0) Py_RETURN_NONE;
    PyObject *raw = PyBytes_FromStringAndSize(NULL, raw_len);
    PyObject *pcm = NULL, *message = NULL, *list = NULL;
    if (raw == NULL) return NULL;
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    if (b64_decode(s, len, (unsigned char *)PyBytes_AS_STRING(raw)) < 0) {
        Py_DECREF(raw);
        Py_RETURN_NONE;
    }

    /* The frame's samples go after the history; the state changes only once nothing can fail. */
    int64_t most = self->g711 ? raw_len : (raw_len + 1) / 2;
    if (self->keep + most > self->capacity) {
        int64_t capacity = self->keep + most;
        int16_t *x = PyMem_Realloc(self->x, (size_t)capacity * sizeof(int16_t));
        if (x == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        self->x = x;
        self->capacity = capacity;
    }
    int16_t *fresh = self->x + self->keep;
    int64_t m = 0;
    int torn = self->torn;
    unsigned char torn_byte = self->torn_byte;
    if (self->g711) {
        for (Py_ssize_t i = 0; i < raw_len; i++) fresh[m++] = self->table[r[i]];
    } else {
        Py_ssize_t i = 0;
        if (torn && raw_len > 0) {
            int v = torn_byte | r[0] << 8;
            fresh[m++] = (int16_t)(v - ((v & 0x8000) << 1));
            i = 1;
            torn = 0;
        }
        for (; i + 1 < raw_len; i += 2) {
            int v = r[i] | r[i + 1] << 8;
            fresh[m++] = (int16_t)(v - ((v & 0x8000) << 1));
        }
        if (i < raw_len) {
            torn = 1;
            torn_byte = r[i];
        }
    }

    /* Block k is complete once input k*down + offsets[up-1] has arrived (livegate.audio.resample). */
    int64_t start = self->consumed - self->keep;
    int64_t consumed = self->consumed + m;
    int64_t last = consumed - 1 - self->offsets[self->up - 1];
    int64_t blocks = last < 0 ? 0 : last / self->down + 1;
    int64_t count = blocks > self->blocks ? blocks - self->blocks : 0;
    pcm = PyBytes_FromStringAndSize(NULL, count * self->up * 2);
    if (pcm == NULL) goto fail;
    int16_t *out = (int16_t *)PyBytes_AS_STRING(pcm);
    if (fir_blocks(self->x, self->keep + m, start, &self->taps, self->up, self->down, self->span, self->offsets, self->bits,
                   self->blocks, count, out) < 0) {
        PyErr_SetString(PyExc_SystemError, "a window reaches outside the samples");
        goto fail;
    }
    int64_t out_n = count * self->up;

    /* livegate.audio.vad: sums of squares of whole detector frames, a frame begun carried over. */
    int64_t partial = self->partial;
    Py_ssize_t partial_n = self->partial_n;
    Py_ssize_t frames = self->frame > 0 ? (Py_ssize_t)((partial_n + out_n) / self->frame) : 0;
    list = PyList_New(frames);
    if (list == NULL) goto fail;
    if (self->frame > 0) {
        Py_ssize_t f = 0;
        for (int64_t i = 0; i < out_n; i++) {
            partial += (int64_t)out[i] * out[i];
            if (++partial_n == self->frame) {
                PyObject *value = PyLong_FromLongLong(partial);
                if (value == NULL) goto fail;
                PyList_SET_ITEM(list, f++, value);
                partial = 0;
                partial_n = 0;
            }
        }
    }

    if (send && out_n > 0) {
        Py_ssize_t head = PyBytes_GET_SIZE(self->prefix), tail = PyBytes_GET_SIZE(self->suffix);
        Py_ssize_t body = (out_n * 2 + 2) / 3 * 4;
        message = PyBytes_FromStringAndSize(NULL, head + body + tail);
        if (message == NULL) goto fail;
        char *m_out = PyBytes_AS_STRING(message);
        memcpy(m_out, PyBytes_AS_STRING(self->prefix), head);
        b64_encode((const unsigned char *)out, out_n * 2, m_out + head);
        memcpy(m_out + head + body, PyBytes_AS_STRING(self->suffix), tail);
    } else {
        message = Py_None;
        Py_INCREF(message);
    }

    PyObject *result = PyTuple_New(4);
    if (result == NULL) goto fail;
    memmove(self->x, self->x + m, (size_t)self->keep * sizeof(int16_t));
    if (self->capacity > self->keep + HELD_SAMPLES) {  /* one huge append does not stay held */
        int16_t *x = PyMem_Realloc(self->x, (size_t)(self->keep + FRESH_SAMPLES) * sizeof(int16_t));
        if (x != NULL) {
            self->x = x;
            self->capacity = self->keep + FRESH_SAMPLES;
        }
    }
    self->consumed = consumed;
    self->blocks += count;
    self->torn = torn;
    self->torn_byte = torn_byte;
    self->partial = partial;
    self->partial_n = partial_n;
    PyTuple_SET_ITEM(result, 0, message);
    PyTuple_SET_ITEM(result, 1, raw);
    PyTuple_SET_ITEM(result, 2, pcm);
    PyTuple_SET_ITEM(result, 3, list);
    return result;
fail:
    Py_XDECREF(raw);
    Py_XDECREF(pcm);
    Py_XDECREF(message);
    Py_XDECREF(list);
    return NULL;
}

static PyObject *Ingest_carry(Ingest *self, void *closure) {
    return Py_BuildValue("(Ln)", (long long)self->partial, self->partial_n);
}

static PyMethodDef Ingest_methods[] = {
    {"push", (PyCFunction)(void (*)(void))Ingest_push, METH_FASTCALL, "One client audio frame, all the way."},
    {"push_event", (PyCFunction)(void (*)(void))Ingest_push_event, METH_FASTCALL, "push() of a plain append event, read from its JSON."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Ingest_getset[] = {
    {"carry", (getter)Ingest_carry, NULL, "The detector frame begun: (sum of squares, samples).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Ingest_slots[] = {
    {Py_tp_new, Ingest_new},
    {Py_tp_dealloc, Ingest_dealloc},
    {Py_tp_methods, Ingest_methods},
    {Py_tp_getset, Ingest_getset},
    {Py_tp_doc, "Client audio frames to 16 kHz PCM16, detector energies and upstream messages, one call each."},
    {0, NULL},
};

static PyType_Spec Ingest_spec = {"livegate.audio._dsp.Ingest", sizeof(Ingest), 0, Py_TPFLAGS_DEFAULT, Ingest_slots};

static PyMethodDef methods[] = {
    {"polyphase", polyphase, METH_VARARGS, "Exact polyphase FIR resampling of int16 samples."},
    {"energies", energies, METH_VARARGS, "Sums of squares of whole frames of int16 samples."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dsp", "livegate's audio hot loops.", -1, methods};

PyMODINIT_FUNC PyInit__dsp(void) {
    for (int c = 0; c < 256; c++) B64_VALUE[c] = 0xFF;
    for (int v = 0; v < 64; v++) B64_VALUE[(unsigned char)B64[v]] = (uint8_t)v;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *type = PyType_FromSpec(&Ingest_spec);
    if (type == NULL || PyModule_AddObject(m, "Ingest", type) < 0) {
        Py_XDECREF(type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
