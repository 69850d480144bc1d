/*
 * chalicelib.core._scan: the record machine's pattern path in C (optional).
 *
 * csvprofile._Machine.feed_raw counts a chunk of text after the header (line
 * ends as they are) when every record in it has the header's width, and hands
 * anything else (a ragged row, a blank line, a lone CR, a quote after text
 * outside quotes) to the exact path. scan() is that decision in one pass over
 * the bytes, without the GIL: None when the chunk must go to the exact path,
 * else the machine's new state and what the chunk added. The Python pattern
 * path is the fallback when this module is not built; tests/unit run both
 * against the reference (docs/architecture.md, "The optional scanner").
 *
 * utf8() is the UTF-8 check of the same text, also without the GIL.
 *
 * Built by native/build.py (make does it) for the Python that runs it. It calls
 * no C library function beyond what the compiler inlines (memset), and SSE2 is
 * in every x86_64 CPU, so the module built on any x86_64 glibc runs on Lambda's
 * (tests/unit/test_scan.py checks the symbol versions). Elsewhere (aarch64) a
 * table finds the special bytes; the tests build that variant too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* csvprofile's states: START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED. */
enum { START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED };

/* Below this, taking and giving back the GIL costs more than it frees. */
#define NOGIL_BYTES 65536

typedef struct {
    int state;
    Py_ssize_t fields; /* delimiters so far in the open record */
    Py_ssize_t inner;  /* line ends inside quotes in the open record */
    Py_ssize_t records;
    Py_ssize_t lines;
} scan_state;

/* The bits set in x (no popcnt instruction: baseline x86_64, and no libgcc call). */
static inline int
bits(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ULL;
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}

#if defined(__SSE2__)
/* p[0..64) as four masks: the delimiter, quote, CR and LF bytes. */
static inline void
masks64(const unsigned char *p, __m128i d, __m128i q, __m128i cr, __m128i lf, uint64_t *dm,
        uint64_t *qm, uint64_t *cm, uint64_t *lm)
{
    uint64_t dd = 0, qq = 0, cc = 0, ll = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        dd |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, d)) << (16 * i);
        qq |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)) << (16 * i);
        cc |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr)) << (16 * i);
        ll |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)) << (16 * i);
    }
    *dm = dd;
    *qm = qq;
    *cm = cc;
    *lm = ll;
}
#endif

static inline uint64_t
specials_tail(const unsigned char *p, Py_ssize_t n, const unsigned char *special)
{
    uint64_t mask = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        mask |= (uint64_t)special[p[i]] << i;
    return mask;
}

/* 0 when done, -1 when only the exact path can tell.
 *
 * The special bytes are found 64 at a time (SSE2 where the compiler has it, a
 * table elsewhere) and read one by one in order: text between two of them (or
 * before the first) makes the state IN_FIELD, outside quotes. A CR before an LF
 * is passed over (the LF is the line end); a CR that ends the chunk is a line end
 * (its LF begins the next chunk and is dropped there); any other CR is a lone CR.
 *
 * With SSE2, a block outside quotes with no quote and no CR but before an LF is
 * counted from its masks alone: each line end must close a record of the width
 * (the delimiters before it, back to the line end before, number width - 1),
 * and the state after it is that of its last delimiter or LF. What the loop
 * would do, byte by byte, in fewer instructions per line.
 */
static int
scan_bytes(const unsigned char *buf, Py_ssize_t n, unsigned char delim, Py_ssize_t width,
           scan_state *s)
{
    unsigned char special[256];
    memset(special, 0, sizeof special);
    special[delim] = special['"'] = special['\r'] = special['\n'] = 1;
#if defined(__SSE2__)
    const __m128i d = _mm_set1_epi8((char)delim), q = _mm_set1_epi8('"'),
                  cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
#endif
    int state = s->state;
    Py_ssize_t fields = s->fields, inner = s->inner, records = 0, lines = 0;
    const Py_ssize_t last = width - 1;
    Py_ssize_t prev = 0; /* just after the special byte before */

    for (Py_ssize_t block = 0; block < n; block += 64) {
        uint64_t mask;
#if defined(__SSE2__)
        if (n - block >= 64) {
            uint64_t dm, qm, cm, lm;
            masks64(buf + block, d, q, cr, lf, &dm, &qm, &cm, &lm);
            /* Outside quotes, no quote in the block and every CR right before an LF
             * in it: only the delimiters between line ends need counting. */
            if (state != IN_QUOTED && !qm && !(cm & ~(lm >> 1))) {
                uint64_t rest = dm;
                for (uint64_t ends = lm; ends; ends &= ends - 1) {
                    uint64_t before = rest & ((ends & -ends) - 1);
                    fields += bits(before);
                    if (fields != last)
                        return -1; /* a blank line, or a record not of the width */
                    rest &= ~before;
                    records++;
                    lines++;
                    fields = inner = 0;
                }
                fields += bits(rest);
                if (fields > last)
                    return -1; /* ragged: too many fields */
                uint64_t any = dm | lm;
                if (any) { /* the state after the block's last delimiter or LF */
                    int top = 63 - __builtin_clzll(any);
                    state = (lm >> top) & 1 ? START_RECORD : START_FIELD;
                    prev = block + top + 1;
                }
                continue;
            }
            mask = dm | qm | cm | lm;
        } else
#endif
            mask = specials_tail(buf + block, n - block < 64 ? n - block : 64, special);
        while (mask) {
            Py_ssize_t pos = block + __builtin_ctzll(mask);
            mask &= mask - 1;
            unsigned char c = buf[pos];
            if (state == IN_QUOTED) {
                if (c == '"') {
                    state = START_FIELD; /* closing, or the first of a doubled pair */
                } else if (c == '\n') {
                    inner++;
                    lines++;
                } else if (c == '\r') {
                    if (pos + 1 < n) {
                        if (buf[pos + 1] != '\n')
                            return -1; /* a lone CR */
                    } else {
                        inner++;
                        lines++;
                    }
                }
                prev = pos + 1;
                continue;
            }
            if (pos > prev)
                state = IN_FIELD; /* text before this byte */
            prev = pos + 1;
            if (c == delim) {
                if (++fields > last)
                    return -1; /* ragged: too many fields */
                state = START_FIELD;
            } else if (c == '"') {
                if (state == IN_FIELD)
                    return -1; /* a quote after text: text (rule 7) */
                state = IN_QUOTED;
            } else if (c == '\r' && pos + 1 < n) {
                if (buf[pos + 1] != '\n')
                    return -1; /* a lone CR */
            } else { /* LF, or a CR that ends the chunk */
                if (state == START_RECORD || fields != last)
                    return -1; /* a blank line, or too few fields */
                records++;
                lines++;
                fields = inner = 0;
                state = START_RECORD;
            }
        }
    }
    if (n > prev && state != IN_QUOTED)
        state = IN_FIELD;
    s->state = state;
    s->fields = fields;
    s->inner = inner;
    s->records = records;
    s->lines = lines;
    return 0;
}

PyDoc_STRVAR(scan_doc,
"scan(buf, delimiter, width, state, fields, inner, /)\n--\n\n"
"Count ``buf`` (text after the header, line ends as they are) from the given\n"
"machine state when every record in it has ``width`` fields: return\n"
"``(state, fields, inner, records, lines)``, ``records`` and ``lines`` added.\n"
"None when a ragged row, a blank line, a lone CR or a quote after text outside\n"
"quotes is in it: only the exact path can tell.");

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "scan() takes 6 arguments");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    long delimiter, state;
    Py_ssize_t width, fields, inner;
    if ((delimiter = PyLong_AsLong(args[1])) == -1 && PyErr_Occurred())
        goto error;
    if ((width = PyLong_AsSsize_t(args[2])) == -1 && PyErr_Occurred())
        goto error;
    if ((state = PyLong_AsLong(args[3])) == -1 && PyErr_Occurred())
        goto error;
    if ((fields = PyLong_AsSsize_t(args[4])) == -1 && PyErr_Occurred())
        goto error;
    if ((inner = PyLong_AsSsize_t(args[5])) == -1 && PyErr_Occurred())
        goto error;
    if (delimiter < 0 || delimiter > 255 || delimiter == '"' || delimiter == '\r' ||
        delimiter == '\n' || width < 2 || state < START_RECORD || state > IN_QUOTED ||
        fields < 0 || fields >= width || inner < 0 ||
        (state == START_RECORD && (fields || inner))) { /* nothing of a record read yet */
        PyErr_SetString(PyExc_ValueError, "scan(): no such machine state");
        goto error;
    }
    scan_state s = {(int)state, fields, inner, 0, 0};
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len;
    int rc;
    if (view.len >= NOGIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = scan_bytes(p, n, (unsigned char)delimiter, width, &s);
        Py_END_ALLOW_THREADS
    } else {
        rc = scan_bytes(p, n, (unsigned char)delimiter, width, &s);
    }
    PyBuffer_Release(&view);
    if (rc < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(innnn)", s.state, s.fields, s.inner, s.records, s.lines);
error:
    PyBuffer_Release(&view);
    return NULL;
}

#if defined(__SSE2__)
/* Whether p[0..64) is ASCII and whole two-byte characters (C2-DF, then 80-BF) only,
 * none cut by the block's end: the common non-ASCII text of European exports. */
static inline int
utf8_block_simple(const unsigned char *p)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)p),
            v1 = _mm_loadu_si128((const __m128i *)(p + 16)),
            v2 = _mm_loadu_si128((const __m128i *)(p + 32)),
            v3 = _mm_loadu_si128((const __m128i *)(p + 48));
    if (!_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(v0, v1), _mm_or_si128(v2, v3))))
        return 1; /* ASCII */
    const __m128i c0 = _mm_set1_epi8((char)0xC0), e0 = _mm_set1_epi8((char)0xE0),
                  fe = _mm_set1_epi8((char)0xFE), x80 = _mm_set1_epi8((char)0x80);
    __m128i v[4] = {v0, v1, v2, v3};
    uint64_t high = 0, lead = 0, cont = 0;
    for (int k = 0; k < 4; k++) {
        __m128i is_cont = _mm_cmpeq_epi8(_mm_and_si128(v[k], c0), x80);
        __m128i is_lead = _mm_andnot_si128(_mm_cmpeq_epi8(_mm_and_si128(v[k], fe), c0),
                                           _mm_cmpeq_epi8(_mm_and_si128(v[k], e0), c0));
        high |= (uint64_t)(uint16_t)_mm_movemask_epi8(v[k]) << (16 * k);
        lead |= (uint64_t)(uint16_t)_mm_movemask_epi8(is_lead) << (16 * k);
        cont |= (uint64_t)(uint16_t)_mm_movemask_epi8(is_cont) << (16 * k);
    }
    /* every high byte a lead or a continuation, each continuation right after a lead,
     * and no lead in the last byte (its continuation is in the next block) */
    return high == (lead | cont) && cont == lead << 1 && !(lead >> 63);
}
#endif

/* The bytes of an incomplete sequence at the end (0-3), or -1 when p[0..n) is not
 * UTF-8 as Python's strict decoder reads it (no overlong forms, no surrogates,
 * nothing above U+10FFFF): an incomplete sequence counts only while what is there
 * can still begin a character, so the verdict at the end is the decoder's.
 *
 * With SSE2, 64 bytes at a time while they are ASCII and two-byte characters;
 * a block with anything else (and the last bytes) is read character by character,
 * then the blocks resume at the next character. */
static Py_ssize_t
utf8_bytes(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0; /* always at the start of a character */
    while (i < n) {
        Py_ssize_t stop = n;
#if defined(__SSE2__)
        while (n - i >= 64 && utf8_block_simple(p + i))
            i += 64;
        if (n - i >= 64)
            stop = i + 64; /* this block one by one, then blocks again */
#endif
        while (i < stop) {
            unsigned char c = p[i];
            if (c < 0x80) {
                i++;
                continue;
            }
            int need;
            unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
            if (c >= 0xC2 && c <= 0xDF)
                need = 1;
            else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                    lo = 0xA0; /* overlong below */
                else if (c == 0xED)
                    hi = 0x9F; /* surrogates above */
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                    lo = 0x90;
                else if (c == 0xF4)
                    hi = 0x8F; /* above U+10FFFF */
            } else
                return -1;
            Py_ssize_t j = i + 1;
            for (int k = 0; k < need; k++, j++) {
                if (j >= n)
                    return n - i; /* cut by the chunk's end */
                unsigned char b = p[j];
                if (k == 0 && c == 0xED && b >= 0x80 && b <= 0xBF && j + 1 >= n)
                    return n - i; /* CPython holds ED with any continuation byte, cut */
                if (k == 0 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
                    return -1;
            }
            i = j;
        }
    }
    return 0;
}

PyDoc_STRVAR(utf8_doc,
"utf8(buf, /)\n--\n\n"
"The bytes of an incomplete UTF-8 sequence that end ``buf`` (0-3), or -1 when\n"
"``buf`` is not UTF-8 (as the strict decoder reads it).");

static PyObject *
utf8(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t tail;
    if (view.len >= NOGIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        tail = utf8_bytes(view.buf, view.len);
        Py_END_ALLOW_THREADS
    } else {
        tail = utf8_bytes(view.buf, view.len);
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(tail);
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {"utf8", utf8, METH_O, utf8_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan",
    "The record machine's pattern path in C (csvprofile._Machine.feed_raw).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "START_RECORD", START_RECORD) < 0 ||
        PyModule_AddIntConstant(m, "START_FIELD", START_FIELD) < 0 ||
        PyModule_AddIntConstant(m, "IN_FIELD", IN_FIELD) < 0 ||
        PyModule_AddIntConstant(m, "IN_QUOTED", IN_QUOTED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
