/* vsctl: plain-text tables with aligned columns. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vsctl.h"

struct vs_table {
	size_t ncols;
	char **hdr;
	bool *right;
	char **cells;		/* row-major, nrows * ncols */
	size_t nrows, ncur;	/* ncur: cells filled in the last row */
};

static void *xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p) {
		fprintf(stderr, "vsctl: out of memory\n");
		exit(VS_ERR);
	}
	return p;
}

struct vs_table *vs_table_new(const char *headers)
{
	struct vs_table *t = xalloc(sizeof(*t));
	char *copy = strdup(headers), *save = NULL, *h;

	if (!copy)
		exit(VS_ERR);
	t->ncols = 1;
	for (const char *p = headers; *p; p++)
		t->ncols += *p == '|';
	t->hdr = xalloc(t->ncols * sizeof(char *));
	t->right = xalloc(t->ncols * sizeof(bool));
	h = strtok_r(copy, "|", &save);
	for (size_t i = 0; i < t->ncols && h; i++, h = strtok_r(NULL, "|", &save)) {
		t->right[i] = h[0] == '>';
		t->hdr[i] = strdup(h + t->right[i]);
	}
	free(copy);
	t->ncur = t->ncols;
	return t;
}

void vs_table_row(struct vs_table *t)
{
	char **c = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));

	if (!c)
		exit(VS_ERR);
	t->cells = c;
	memset(c + t->nrows * t->ncols, 0, t->ncols * sizeof(char *));
	t->nrows++;
	t->ncur = 0;
}

void vs_table_cell(struct vs_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (t->ncur >= t->ncols || !t->nrows)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	t->cells[(t->nrows - 1) * t->ncols + t->ncur++] = s;
}

void vs_table_print(struct vs_table *t, FILE *out)
{
	size_t *w = xalloc(t->ncols * sizeof(size_t));

	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = t->hdr[c] ? strlen(t->hdr[c]) : 0;
		for (size_t r = 0; r < t->nrows; r++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t l = s ? strlen(s) : 0;

			if (l > w[c])
				w[c] = l;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = r ? t->cells[(r - 1) * t->ncols + c] : t->hdr[c];
			bool last = c + 1 == t->ncols;

			if (!s)
				s = "";
			if (t->right[c])
				fprintf(out, "%*s", (int)w[c], s);
			else if (last)
				fputs(s, out);
			else
				fprintf(out, "%-*s", (int)w[c], s);
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
	free(w);
}

void vs_table_free(struct vs_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	for (size_t c = 0; c < t->ncols; c++)
		free(t->hdr[c]);
	free(t->cells);
	free(t->hdr);
	free(t->right);
	free(t);
}
