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
 * sample() reads and types the column sample's rows (rule 15, csvprofile._Sample),
 * also without the GIL; the Python path stays for what it leaves and without it.
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

/* The arguments of scan() and sample(): a buffer, then ``count`` integers into
 * ``out``. 0, or -1 with an exception set (and nothing held). */
static int
buffer_and_integers(const char *name, PyObject *const *args, Py_ssize_t nargs,
                    Py_ssize_t count, Py_buffer *view, Py_ssize_t *out)
{
    if (nargs != count + 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments", name, count + 1);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++)
        if ((out[i] = PyLong_AsSsize_t(args[i + 1])) == -1 && PyErr_Occurred())
            return -1;
    return PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE);
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
    Py_buffer view;
    Py_ssize_t a[5];
    if (buffer_and_integers("scan", args, nargs, 5, &view, a) < 0)
        return NULL;
    Py_ssize_t delimiter = a[0], width = a[1], state = a[2], fields = a[3], inner = a[4];
    if (delimiter < 0 || delimiter > 255 || delimiter == '"' || delimiter == '\r' ||
        delimiter == '\n' || width < 2 || state < START_RECORD || state > IN_QUOTED ||
        fields < 0 || fields >= width || inner < 0 ||
        (state == START_RECORD && (fields || inner))) { /* nothing of a record read yet */
        PyErr_SetString(PyExc_ValueError, "scan(): no such machine state");
        PyBuffer_Release(&view);
        return NULL;
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

/* ---- sample(): rule 15's column sample over whole lines -------------------------
 *
 * csvprofile._Sample._parse reads the records that end in a window of text (whole
 * lines, latin-1: bytes as they are) as the csv module reads them (excel dialect,
 * strict=False), keeps the rows with the header's width, and gives their values to
 * profile._Column column by column. sample() is that in one pass without the GIL:
 * for each of the first ``kept`` columns, what _Column needs of the block (its
 * longest value as read, in bytes and in UTF-8 code points; its values empty once
 * stripped of spaces and tabs; which of rule 15's types every other stripped value
 * has; the first least and greatest as numbers and as dates). Python merges that
 * into the column's state exactly as it merges a block it typed itself.
 *
 * None hands the window to the Python path: a closing quote followed by text
 * (strict=False runs the field on unquoted), or an exponent too long for int64.
 */

enum { T_INTEGER = 1, T_NUMBER = 2, T_BOOLEAN = 4, T_DATE = 8, T_DATETIME = 16, T_ALL = 31 };

typedef struct {
    int sign;           /* -1, 0, 1 */
    int64_t adjusted;   /* the exponent of the first significant digit, plus one */
    const unsigned char *digits; /* from the first significant digit (a '.' may follow) */
    Py_ssize_t count;   /* significant digits, trailing zeros dropped */
} number_key;

typedef struct {
    Py_ssize_t longest, longest_utf8, empty;
    int mask;
    const unsigned char *low, *high, *first_day, *last_day; /* stripped texts */
    Py_ssize_t low_n, high_n;
    number_key low_key, high_key;
} column_block;

typedef struct {
    const unsigned char *text;
    Py_ssize_t n;     /* the field's bytes between its quotes (or all of it) */
    Py_ssize_t pairs; /* doubled quotes in it, each one quote of the value */
} field_span;

static inline int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int
two(const unsigned char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* _INT's match at the start of p[0..n): its end, or -1. */
static Py_ssize_t
integer_end(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    if (i >= n || !is_digit(p[i]))
        return -1;
    if (p[i] == '0')
        return i + 1;
    while (i < n && is_digit(p[i]))
        i++;
    return i;
}

/* T_INTEGER | T_NUMBER, T_NUMBER or 0: p[0..n) as _INT and _NUMBER read it. */
static int
number_kinds(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = integer_end(p, n);
    if (i < 0)
        return 0;
    if (i == n)
        return T_INTEGER | T_NUMBER;
    if (p[i] == '.') {
        Py_ssize_t j = ++i;
        while (i < n && is_digit(p[i]))
            i++;
        if (i == j)
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        Py_ssize_t j = i;
        while (i < n && is_digit(p[i]))
            i++;
        if (i == j)
            return 0;
    }
    return i == n ? T_NUMBER : 0;
}

static int
is_boolean(const unsigned char *p, Py_ssize_t n)
{
    static const char t[] = "true", f[] = "false";
    const char *word = n == 4 ? t : n == 5 ? f : NULL;
    if (word == NULL)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != word[i])
            return 0;
    return 1;
}

/* _DATE at p[0..10), February 29 only in a leap year (_leap_days_real). */
static int
is_date(const unsigned char *p)
{
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? p[i] != '-' : !is_digit(p[i]))
            return 0;
    int year = two(p) * 100 + two(p + 2), month = two(p + 5), day = two(p + 8);
    if (year == 0 || month < 1 || month > 12 || day < 1)
        return 0;
    if (day <= 28)
        return 1;
    if (month == 2)
        return day == 29 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (day <= 30)
        return 1;
    return day == 31 && (month == 1 || month == 3 || month == 5 || month == 7 ||
                         month == 8 || month == 10 || month == 12);
}

/* HH:MM (hours 00-23) at p[0..5). */
static int
is_clock(const unsigned char *p)
{
    return is_digit(p[0]) && is_digit(p[1]) && p[2] == ':' && is_digit(p[3]) &&
           is_digit(p[4]) && two(p) <= 23 && p[3] <= '5';
}

/* _DATETIME over p[0..n). */
static int
is_datetime(const unsigned char *p, Py_ssize_t n)
{
    if (n < 16 || !is_date(p) || (p[10] != 'T' && p[10] != ' ') || !is_clock(p + 11))
        return 0;
    Py_ssize_t i = 16;
    if (i < n && p[i] == ':') {
        if (n - i < 3 || !is_digit(p[i + 1]) || !is_digit(p[i + 2]) || p[i + 1] > '5')
            return 0;
        i += 3;
        if (i < n && p[i] == '.') {
            Py_ssize_t j = ++i;
            while (i < n && i - j < 9 && is_digit(p[i]))
                i++;
            if (i == j)
                return 0;
        }
    }
    if (i < n && p[i] == 'Z')
        i++;
    else if (i < n && (p[i] == '+' || p[i] == '-')) {
        if (n - i < 6 || !is_clock(p + i + 1))
            return 0;
        i += 6;
    }
    return i == n;
}

/* Of the kinds in ``want``, those the stripped value p[0..n) has. */
static int
kinds(const unsigned char *p, Py_ssize_t n, int want)
{
    int got = 0;
    if (want & (T_INTEGER | T_NUMBER))
        got |= number_kinds(p, n);
    if ((want & T_BOOLEAN) && is_boolean(p, n))
        got |= T_BOOLEAN;
    if ((want & T_DATE) && n == 10 && is_date(p))
        got |= T_DATE;
    if ((want & T_DATETIME) && is_datetime(p, n))
        got |= T_DATETIME;
    return got & want;
}

/* profile.number_key of a value that is a number: 0, or -1 when its exponent does
 * not fit (Python then orders it). */
static int
number_key_of(const unsigned char *p, Py_ssize_t n, number_key *key)
{
    Py_ssize_t i = 0;
    int sign = 1;
    if (p[0] == '-' || p[0] == '+')
        sign = p[i++] == '-' ? -1 : 1;
    Py_ssize_t whole = 0, leading = 0, significant = 0, zeros = 0; /* zeros: the last run */
    int fraction = 0;
    const unsigned char *first = NULL;
    for (; i < n && (is_digit(p[i]) || p[i] == '.'); i++) {
        if (p[i] == '.') {
            fraction = 1;
            continue;
        }
        whole += !fraction;
        if (first == NULL) {
            if (p[i] == '0') {
                leading++;
                continue;
            }
            first = p + i;
        }
        significant++;
        zeros = p[i] == '0' ? zeros + 1 : 0;
    }
    int64_t exponent = 0;
    if (i < n) { /* e or E */
        i++;
        int negative = p[i] == '-';
        if (p[i] == '-' || p[i] == '+')
            i++;
        while (i < n && p[i] == '0')
            i++;
        if (n - i > 17)
            return -1;
        for (; i < n; i++)
            exponent = exponent * 10 + (p[i] - '0');
        if (negative)
            exponent = -exponent;
    }
    if (first == NULL) {
        key->sign = 0;
        key->adjusted = 0;
        key->digits = NULL;
        key->count = 0;
        return 0;
    }
    key->sign = sign;
    key->adjusted = (int64_t)(whole - leading) + exponent;
    key->digits = first;
    key->count = significant - zeros;
    return 0;
}

/* a's significant digits against b's (a shorter one that is a prefix is less). */
static int
digits_cmp(const number_key *a, const number_key *b)
{
    const unsigned char *x = a->digits, *y = b->digits;
    Py_ssize_t left = a->count, right = b->count;
    while (left && right) {
        if (*x == '.')
            x++;
        if (*y == '.')
            y++;
        if (*x != *y)
            return *x < *y ? -1 : 1;
        x++, y++, left--, right--;
    }
    return left ? 1 : right ? -1 : 0;
}

static int
number_cmp(const number_key *a, const number_key *b)
{
    if (a->sign != b->sign)
        return a->sign < b->sign ? -1 : 1;
    if (a->sign == 0)
        return 0;
    int magnitude;
    if (a->adjusted != b->adjusted)
        magnitude = a->adjusted < b->adjusted ? -1 : 1;
    else
        magnitude = digits_cmp(a, b);
    return a->sign > 0 ? magnitude : -magnitude;
}

static int
text_cmp(const unsigned char *a, const unsigned char *b, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* The code points of p[0..n) decoded as UTF-8 with errors="replace": a character
 * for each whole sequence, and one U+FFFD for each byte that cannot begin one and
 * for each maximal part of a sequence cut short (what CPython's decoder does).
 * The lengths matter only for a file that is UTF-8 throughout (else it is read
 * as cp1252, byte by byte), but the Python path counts these, so this does too. */
static Py_ssize_t
utf8_points(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t points = 0, i = 0;
    while (i < n) {
        unsigned char c = p[i++];
        points++;
        if (c < 0x80)
            continue;
        int need;
        unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else
            continue; /* cannot begin a character */
        for (int k = 0; k < need && i < n; k++, i++) {
            unsigned char b = p[i];
            if (k == 0 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
                break; /* the part so far is one U+FFFD; b begins anew */
        }
    }
    return points;
}

/* One value of a row with the header's width into its column's block: 0, or -1
 * for the Python path. */
static int
take_value(column_block *c, const field_span *f)
{
    const unsigned char *p = f->text, *end = f->text + f->n;
    Py_ssize_t length = f->n - f->pairs, points = length;
    for (const unsigned char *q = p; q < end; q++)
        if (*q >= 0x80) { /* the pairs are ASCII: each is one quote either way */
            points = utf8_points(p, f->n) - f->pairs;
            break;
        }
    if (length > c->longest)
        c->longest = length;
    if (points > c->longest_utf8)
        c->longest_utf8 = points;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (p == end) {
        c->empty++;
        return 0;
    }
    if (!c->mask)
        return 0;
    Py_ssize_t n = end - p;
    int got = f->pairs ? 0 : kinds(p, n, c->mask); /* a quote is no type's */
    c->mask = got;
    if (got & T_NUMBER) {
        number_key key;
        if (number_key_of(p, n, &key) < 0)
            return -1;
        if (c->low == NULL || number_cmp(&key, &c->low_key) < 0) {
            c->low = p, c->low_n = n, c->low_key = key;
        }
        if (c->high == NULL || number_cmp(&key, &c->high_key) > 0) {
            c->high = p, c->high_n = n, c->high_key = key;
        }
    }
    if (got & T_DATE) {
        if (c->first_day == NULL || text_cmp(p, c->first_day, 10) < 0)
            c->first_day = p;
        if (c->last_day == NULL || text_cmp(p, c->last_day, 10) > 0)
            c->last_day = p;
    }
    return 0;
}

/* The records that end in buf[0..n) (a record not closed by a line end ends at n,
 * but for one open in quotes, which is left): their rows of ``width`` fields, up to
 * ``room`` of them, into ``blocks`` (the first ``kept`` columns). The length read,
 * or -1 for the Python path; *rows: the rows taken. */
static Py_ssize_t
sample_bytes(const unsigned char *buf, Py_ssize_t n, unsigned char delim, Py_ssize_t width,
             Py_ssize_t kept, Py_ssize_t room, column_block *blocks, field_span *fields,
             Py_ssize_t *rows)
{
    Py_ssize_t i = 0, taken = 0;
    while (taken < room) {
        while (i < n && (buf[i] == '\n' || buf[i] == '\r'))
            i++; /* blank lines: no record */
        if (i >= n)
            break;
        Py_ssize_t start = i, count = 0;
        for (;;) { /* a field at i */
            const unsigned char *text;
            Py_ssize_t length, pairs = 0, after;
            if (i < n && buf[i] == '"') {
                Py_ssize_t j = i + 1;
                for (;;) {
                    while (j < n && buf[j] != '"')
                        j++;
                    if (j >= n)
                        goto done; /* open in quotes: left for more text */
                    if (j + 1 < n && buf[j + 1] == '"') {
                        pairs++;
                        j += 2;
                        continue;
                    }
                    break;
                }
                text = buf + i + 1;
                length = j - i - 1;
                after = j + 1;
                if (after < n && buf[after] != delim && buf[after] != '\n' &&
                    buf[after] != '\r')
                    return -1; /* text after the closing quote */
            } else {
                Py_ssize_t j = i;
                while (j < n && buf[j] != delim && buf[j] != '\n' && buf[j] != '\r')
                    j++;
                text = buf + i;
                length = j - i;
                after = j;
            }
            if (count < kept) {
                fields[count].text = text;
                fields[count].n = length;
                fields[count].pairs = pairs;
            }
            count++;
            if (after < n && buf[after] == delim) {
                i = after + 1;
                continue;
            }
            i = after < n ? after + 1 : n; /* past the line end */
            if (after < n && buf[after] == '\r' && i < n && buf[i] == '\n')
                i++;
            break;
        }
        (void)start;
        if (count == width) {
            for (Py_ssize_t c = 0; c < kept; c++)
                if (take_value(&blocks[c], &fields[c]) < 0)
                    return -1;
            taken++;
        }
        continue;
    done:
        i = start;
        break;
    }
    *rows = taken;
    return i;
}

static PyObject *
text_or_none(const unsigned char *p, Py_ssize_t n)
{
    if (p == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeLatin1((const char *)p, n, NULL);
}

PyDoc_STRVAR(sample_doc,
"sample(buf, delimiter, width, kept, room, /)\n--\n\n"
"The rows of ``width`` fields among the records that end in ``buf`` (whole lines\n"
"after the header, as the csv module reads them), up to ``room``: return\n"
"``(read, rows, columns)``, ``columns`` one tuple per each of the first ``kept``:\n"
"``(longest, longest_utf8, empty, kinds, low, high, first_day, last_day)``.\n"
"None when only the Python path can tell.");

static PyObject *
sample(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_buffer view;
    Py_ssize_t a[4];
    if (buffer_and_integers("sample", args, nargs, 4, &view, a) < 0)
        return NULL;
    Py_ssize_t delimiter = a[0], width = a[1], kept = a[2], room = a[3];
    PyObject *result = NULL;
    column_block *blocks = NULL;
    field_span *fields = NULL;
    if (delimiter < 0 || delimiter > 255 || delimiter == '"' || delimiter == '\r' ||
        delimiter == '\n' || width < 1 || kept < 1 || kept > width || room < 0) {
        PyErr_SetString(PyExc_ValueError, "sample(): no such delimiter, width or room");
        goto exit;
    }
    blocks = PyMem_Calloc((size_t)kept, sizeof *blocks);
    fields = PyMem_Calloc((size_t)kept, sizeof *fields);
    if (blocks == NULL || fields == NULL) {
        PyErr_NoMemory();
        goto exit;
    }
    for (Py_ssize_t c = 0; c < kept; c++)
        blocks[c].mask = T_ALL;
    Py_ssize_t read, rows = 0;
    Py_BEGIN_ALLOW_THREADS
    read = sample_bytes(view.buf, view.len, (unsigned char)delimiter, width, kept, room,
                        blocks, fields, &rows);
    Py_END_ALLOW_THREADS
    if (read < 0) {
        result = Py_NewRef(Py_None);
        goto exit;
    }
    PyObject *columns = PyList_New(kept);
    if (columns == NULL)
        goto exit;
    for (Py_ssize_t c = 0; c < kept; c++) {
        column_block *b = &blocks[c];
        int ranged = b->mask & T_NUMBER;
        int dated = b->mask & T_DATE;
        PyObject *item = Py_BuildValue(
            "(nnniNNNN)", b->longest, b->longest_utf8, b->empty, b->mask,
            text_or_none(ranged ? b->low : NULL, b->low_n),
            text_or_none(ranged ? b->high : NULL, b->high_n),
            text_or_none(dated ? b->first_day : NULL, 10),
            text_or_none(dated ? b->last_day : NULL, 10));
        if (item == NULL) {
            Py_DECREF(columns);
            goto exit;
        }
        PyList_SET_ITEM(columns, c, item);
    }
    result = Py_BuildValue("(nnN)", read, rows, columns);
exit:
    PyMem_Free(blocks);
    PyMem_Free(fields);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {"utf8", utf8, METH_O, utf8_doc},
    {"sample", (PyCFunction)(void (*)(void))sample, METH_FASTCALL, sample_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan",
    "The record machine's pattern path, the UTF-8 check and the column sample in C.", -1,
    methods, NULL, NULL, NULL, NULL,
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
