/* livegate's audio hot loops in C: the exact polyphase FIR of livegate.audio.resample and the frame
 * energies of livegate.audio.vad. Same arithmetic as the numpy reference (integer taps, integer
 * samples, round half to even), so both give the same bytes; tests/audio compare them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

static inline int16_t round_q(double acc, double scale) {
    double q = nearbyint(acc * scale);  /* exact: acc is an integer and scale a power of two; half to even */
    if (q > 32767.0) q = 32767.0;
    if (q < -32768.0) q = -32768.0;
    return (int16_t)q;
}

/* polyphase(samples, taps, up, down, span, bits, offsets, first, blocks, start) -> bytes
 * samples: int16 LE, stream indices start .. start+len-1; taps: float64 holding integers, `up` phases of
 * `span` each, every phase reversed (oldest sample first); output j of block b uses the newest input
 * b*down + offsets[j] with phase (j*down) % up. Products and sums are integers below 2**53, so float64
 * is exact in any order: four partial sums let the compiler vectorise. */
static PyObject *polyphase(PyObject *self, PyObject *args) {
    Py_buffer samples, taps;
    int up, down, span, bits;
    PyObject *offsets_obj;
    Py_ssize_t first, blocks, start;
    if (!PyArg_ParseTuple(args, "y*y*iiiiOnnn", &samples, &taps, &up, &down, &span, &bits, &offsets_obj, &first, &blocks, &start))
        return NULL;
    PyObject *result = NULL;
    double *x = NULL;
    Py_ssize_t offsets[64];
    if (up < 1 || up > 64 || span < 1 || !PyTuple_Check(offsets_obj) || PyTuple_GET_SIZE(offsets_obj) != up) {
        PyErr_SetString(PyExc_ValueError, "offsets must be a tuple of `up` integers");
        goto done;
    }
    if (taps.len < (Py_ssize_t)up * span * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "taps shorter than up * span");
        goto done;
    }
    for (int j = 0; j < up; j++) offsets[j] = PyLong_AsSsize_t(PyTuple_GET_ITEM(offsets_obj, j));
    const int16_t *pcm = (const int16_t *)samples.buf;
    const double *h = (const double *)taps.buf;
    Py_ssize_t n = samples.len / 2;
    x = PyMem_Malloc((n > 0 ? n : 1) * sizeof(double));
    if (x == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) x[i] = pcm[i];
    result = PyBytes_FromStringAndSize(NULL, blocks * up * 2);
    if (result == NULL) goto done;
    int16_t *out = (int16_t *)PyBytes_AS_STRING(result);
    double scale = ldexp(1.0, -bits);
    for (Py_ssize_t b = 0; b < blocks; b++) {
        for (int j = 0; j < up; j++) {
            Py_ssize_t oldest = (first + b) * down + offsets[j] - start - span + 1;
            if (oldest < 0 || oldest + span > n) {  /* the caller keeps enough history: never true */
                Py_CLEAR(result);
                PyErr_SetString(PyExc_ValueError, "a window reaches outside the samples");
                goto done;
            }
            const double *phase = h + (Py_ssize_t)((j * down) % up) * span;
            const double *window = x + oldest;
            double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int t = 0;
            for (; t + 4 <= span; t += 4) {
                a0 += phase[t] * window[t];
                a1 += phase[t + 1] * window[t + 1];
                a2 += phase[t + 2] * window[t + 2];
                a3 += phase[t + 3] * window[t + 3];
            }
            for (; t < span; t++) a0 += phase[t] * window[t];
            out[b * up + j] = round_q((a0 + a1) + (a2 + a3), scale);
        }
    }
done:
    PyMem_Free(x);
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
        PyList_SET_ITEM(list, f, PyLong_FromLongLong(sum));
    }
    PyBuffer_Release(&samples);
    return list;
}

static PyMethodDef methods[] = {
    {"polyphase", polyphase, METH_VARARGS, "Exact polyphase FIR resampling of int16 samples."},
    {"energies", energies, METH_VARARGS, "Sums of squares of whole frames of int16 samples."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dsp", "livegate's audio hot loops.", -1, methods};

PyMODINIT_FUNC PyInit__dsp(void) { return PyModule_Create(&module); }
