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
 * Built by native/build.py (make does it) for the Python that runs it. It uses
 * the C library's memchr only, so the module built on any x86_64 glibc runs on
 * Lambda's (tests/unit/test_scan.py checks the symbol versions).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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

/* 0 when done, -1 when only the exact path can tell. */
static int
scan_bytes(const unsigned char *p, const unsigned char *end, unsigned char delim,
           Py_ssize_t width, scan_state *s)
{
    unsigned char special[256];
    memset(special, 0, sizeof special);
    special[delim] = special['"'] = special['\r'] = special['\n'] = 1;
    int state = s->state;
    Py_ssize_t fields = s->fields, inner = s->inner, records = 0, lines = 0;
    const Py_ssize_t last = width - 1;

    if (state == IN_QUOTED)
        goto quoted;
    while (p < end) {
        const unsigned char *q = p;
        /* Text: eight bytes at a time while none of them is special. */
        while (end - q >= 8 && !(special[q[0]] | special[q[1]] | special[q[2]] |
                                 special[q[3]] | special[q[4]] | special[q[5]] |
                                 special[q[6]] | special[q[7]]))
            q += 8;
        while (q < end && !special[*q])
            q++;
        if (q > p)
            state = IN_FIELD;
        if (q == end)
            break;
        unsigned char c = *q;
        p = q + 1;
        if (c == delim) {
            if (++fields > last)
                return -1; /* ragged: too many fields */
            state = START_FIELD;
            continue;
        }
        if (c == '"') {
            if (state == IN_FIELD)
                return -1; /* a quote after text: text (rule 7) */
            state = IN_QUOTED;
        quoted:
            for (;;) {
                const unsigned char *r = p;
                while (r < end && *r != '"' && *r != '\n' && *r != '\r')
                    r++;
                if (r == end) {
                    s->state = IN_QUOTED;
                    goto done;
                }
                if (*r == '"') {
                    p = r + 1;
                    state = START_FIELD; /* closing, or the first of a doubled pair */
                    break;
                }
                if (*r == '\r' && r + 1 < end && r[1] != '\n')
                    return -1; /* a lone CR */
                if (*r == '\n' || r + 1 == end) {
                    inner++;
                    lines++;
                }
                p = r + 1;
            }
            continue;
        }
        /* A line end: LF, CRLF, or a CR that ends the chunk (its LF follows). */
        if (c == '\r' && p < end) {
            if (*p != '\n')
                return -1; /* a lone CR */
            p++;
        }
        if (state == START_RECORD || fields != last)
            return -1; /* a blank line, or too few fields */
        records++;
        lines++;
        fields = inner = 0;
        state = START_RECORD;
    }
    s->state = state;
done:
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
    long delimiter = PyLong_AsLong(args[1]);
    Py_ssize_t width = PyLong_AsSsize_t(args[2]);
    long state = PyLong_AsLong(args[3]);
    Py_ssize_t fields = PyLong_AsSsize_t(args[4]);
    Py_ssize_t inner = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred()) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (delimiter < 0 || delimiter > 255 || delimiter == '"' || delimiter == '\r' ||
        delimiter == '\n' || width < 2 || state < START_RECORD || state > IN_QUOTED ||
        fields < 0 || fields >= width || inner < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "scan(): no such machine state");
        return NULL;
    }
    scan_state s = {(int)state, fields, inner, 0, 0};
    const unsigned char *p = view.buf;
    int rc;
    if (view.len >= NOGIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        rc = scan_bytes(p, p + view.len, (unsigned char)delimiter, width, &s);
        Py_END_ALLOW_THREADS
    } else {
        rc = scan_bytes(p, p + view.len, (unsigned char)delimiter, width, &s);
    }
    PyBuffer_Release(&view);
    if (rc < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(innnn)", s.state, s.fields, s.inner, s.records, s.lines);
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
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
