/* otlp.c -- see otlp.h. Spans are parsed from their contract JSON with
 * jansson into a small model (resources, each with its spans), which is
 * then written either through the protoc-c generated types or as OTLP/JSON
 * (lowerCamelCase field names, trace and span ids as hex, 64-bit integers
 * as decimal strings, enums as numbers). */
#include "export/otlp.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "util/util.h"

#define SCOPE_NAME "wirespan"

/* attributes that say who made a span: they describe its resource */
static const char *const resource_keys[] = {
	"service.name", "host.name", "process.pid", "process.executable.name", "process.executable.path",
	"wirespan.service.name_from",
};

struct ws_otlp_batch {
	json_t *resources; /* [{"attributes": {...}, "spans": [...]}] */
	json_t *index;     /* resource key -> position in resources */
	size_t nspans;
};

struct ws_otlp_batch *ws_otlp_batch_new(void)
{
	struct ws_otlp_batch *b = ws_calloc(1, sizeof(*b));

	b->resources = json_array();
	b->index = json_object();
	return b;
}

void ws_otlp_batch_clear(struct ws_otlp_batch *b)
{
	json_array_clear(b->resources);
	json_object_clear(b->index);
	b->nspans = 0;
}

void ws_otlp_batch_free(struct ws_otlp_batch *b)
{
	if (!b)
		return;
	json_decref(b->resources);
	json_decref(b->index);
	free(b);
}

size_t ws_otlp_batch_spans(const struct ws_otlp_batch *b) { return b->nspans; }

static bool is_resource_key(const char *k)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(resource_keys); i++)
		if (strcmp(k, resource_keys[i]) == 0)
			return true;
	return false;
}

/* The status a span reports: ERROR with error.type for a server error
 * (5xx), a Redis error, a failed connect or a request without response;
 * an HTTP 4xx is not an error of the span (it is the caller's). */
static int status_code(json_t *attrs, const char **msg)
{
	json_t *et = json_object_get(attrs, "error.type");
	json_t *st = json_object_get(attrs, "http.response.status_code");

	*msg = "";
	if (!json_is_string(et))
		return OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET;
	if (json_is_integer(st) && json_integer_value(st) > 0 && json_integer_value(st) < 500)
		return OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET;
	*msg = json_string_value(et);
	return OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
}

int ws_otlp_batch_add(struct ws_otlp_batch *b, const char *span_json, char *err, size_t errlen)
{
	json_error_t je;
	json_t *in = json_loads(span_json, 0, &je);
	json_t *attrs, *res, *sp;
	const char *k;
	json_t *v;

	if (!json_is_object(in)) {
		snprintf(err, errlen, "a span that is not a JSON object (%s)", je.text);
		json_decref(in);
		return -1;
	}
	attrs = json_object_get(in, "attributes");
	if (!json_is_object(attrs) || !json_is_string(json_object_get(in, "trace_id")) ||
	    !json_is_string(json_object_get(in, "span_id")) || !json_is_integer(json_object_get(in, "start_time_unix_nano"))) {
		snprintf(err, errlen, "a span without ids, times or attributes");
		json_decref(in);
		return -1;
	}
	res = json_object();
	sp = json_object();
	json_object_foreach(attrs, k, v)
	{
		if (is_resource_key(k))
			json_object_set(res, k, v);
		else
			json_object_set(sp, k, v);
	}
	char *key = json_dumps(res, JSON_SORT_KEYS | JSON_COMPACT);
	json_t *pos = json_object_get(b->index, key);
	json_t *r;
	if (pos) {
		r = json_array_get(b->resources, (size_t)json_integer_value(pos));
		json_decref(res);
	} else {
		r = json_object();
		json_object_set_new(r, "attributes", res);
		json_object_set_new(r, "spans", json_array());
		json_object_set_new(b->index, key, json_integer((json_int_t)json_array_size(b->resources)));
		json_array_append_new(b->resources, r);
	}
	free(key);
	json_t *out = json_object();
	const char *msg;
	int code = status_code(attrs, &msg);
	const char *kind = json_string_value(json_object_get(in, "kind"));
	json_object_set(out, "traceId", json_object_get(in, "trace_id"));
	json_object_set(out, "spanId", json_object_get(in, "span_id"));
	json_t *parent = json_object_get(in, "parent_span_id");
	json_object_set_new(out, "parentSpanId", json_string(json_is_string(parent) ? json_string_value(parent) : ""));
	json_object_set(out, "name", json_object_get(in, "name"));
	json_object_set_new(out, "kind",
			    json_integer(kind && strcmp(kind, "server") == 0   ? 2
					 : kind && strcmp(kind, "client") == 0 ? 3
									       : 1));
	json_object_set(out, "start", json_object_get(in, "start_time_unix_nano"));
	json_object_set(out, "end", json_object_get(in, "end_time_unix_nano"));
	json_object_set_new(out, "attributes", sp);
	json_object_set_new(out, "code", json_integer(code));
	json_object_set_new(out, "message", json_string(msg));
	json_array_append_new(json_object_get(r, "spans"), out);
	json_decref(in);
	b->nspans++;
	return 0;
}

/* ---- protobuf ---- */

/* Every piece of a request lives in one arena, freed at once. */
struct arena {
	void **p;
	size_t n, cap;
};

static void *alloc(struct arena *a, size_t size)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->p = ws_realloc(a->p, a->cap * sizeof(*a->p));
	}
	return a->p[a->n++] = ws_calloc(1, size ? size : 1);
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

static char *str(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *d = alloc(a, n + 1);
	memcpy(d, s, n);
	return d;
}

static int unhex(struct arena *a, const char *h, ProtobufCBinaryData *out)
{
	size_t n = strlen(h);

	out->len = 0;
	out->data = NULL;
	if (n == 0)
		return 0;
	if (n % 2)
		return -1;
	out->data = alloc(a, n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out->data[i] = (uint8_t)v;
	}
	out->len = n / 2;
	return 0;
}

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static AnyValue *any_value(struct arena *a, json_t *v);

static KeyValue **key_values(struct arena *a, json_t *obj, size_t *n)
{
	KeyValue **kv = alloc(a, json_object_size(obj) * sizeof(*kv));
	const char *k;
	json_t *v;

	*n = 0;
	json_object_foreach(obj, k, v)
	{
		AnyValue *av = any_value(a, v);
		if (!av)
			continue;
		KeyValue *e = alloc(a, sizeof(*e));
		opentelemetry__proto__common__v1__key_value__init(e);
		e->key = str(a, k);
		e->value = av;
		kv[(*n)++] = e;
	}
	return kv;
}

static AnyValue *any_value(struct arena *a, json_t *v)
{
	AnyValue *av = alloc(a, sizeof(*av));

	opentelemetry__proto__common__v1__any_value__init(av);
	switch (json_typeof(v)) {
	case JSON_STRING:
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		av->string_value = str(a, json_string_value(v));
		break;
	case JSON_INTEGER:
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
		av->int_value = json_integer_value(v);
		break;
	case JSON_REAL:
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
		av->double_value = json_real_value(v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
		av->bool_value = json_is_true(v);
		break;
	case JSON_ARRAY: {
		Opentelemetry__Proto__Common__V1__ArrayValue *arr = alloc(a, sizeof(*arr));
		opentelemetry__proto__common__v1__array_value__init(arr);
		arr->values = alloc(a, json_array_size(v) * sizeof(*arr->values));
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			AnyValue *ev = any_value(a, e);
			if (ev)
				arr->values[arr->n_values++] = ev;
		}
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
		av->array_value = arr;
		break;
	}
	case JSON_OBJECT: {
		Opentelemetry__Proto__Common__V1__KeyValueList *l = alloc(a, sizeof(*l));
		opentelemetry__proto__common__v1__key_value_list__init(l);
		l->values = key_values(a, v, &l->n_values);
		av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
		av->kvlist_value = l;
		break;
	}
	default:
		return NULL; /* null: no value */
	}
	return av;
}

static int encode_protobuf(const struct ws_otlp_batch *b, uint8_t **out, size_t *len)
{
	struct arena a = {0};
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
	size_t nr = json_array_size(b->resources), i;
	json_t *r;
	int rc = 0;

	opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
	opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
	scope.name = SCOPE_NAME;
	req.resource_spans = alloc(&a, nr * sizeof(*req.resource_spans));
	req.n_resource_spans = nr;
	json_array_foreach(b->resources, i, r)
	{
		Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = alloc(&a, sizeof(*rs));
		Opentelemetry__Proto__Resource__V1__Resource *res = alloc(&a, sizeof(*res));
		Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = alloc(&a, sizeof(*ss));
		json_t *spans = json_object_get(r, "spans"), *s;
		size_t k;

		opentelemetry__proto__trace__v1__resource_spans__init(rs);
		opentelemetry__proto__resource__v1__resource__init(res);
		opentelemetry__proto__trace__v1__scope_spans__init(ss);
		res->attributes = key_values(&a, json_object_get(r, "attributes"), &res->n_attributes);
		rs->resource = res;
		ss->scope = &scope;
		ss->spans = alloc(&a, json_array_size(spans) * sizeof(*ss->spans));
		json_array_foreach(spans, k, s)
		{
			Opentelemetry__Proto__Trace__V1__Span *sp = alloc(&a, sizeof(*sp));
			Opentelemetry__Proto__Trace__V1__Status *st = alloc(&a, sizeof(*st));
			opentelemetry__proto__trace__v1__span__init(sp);
			opentelemetry__proto__trace__v1__status__init(st);
			if (unhex(&a, json_string_value(json_object_get(s, "traceId")), &sp->trace_id) ||
			    unhex(&a, json_string_value(json_object_get(s, "spanId")), &sp->span_id) ||
			    unhex(&a, json_string_value(json_object_get(s, "parentSpanId")), &sp->parent_span_id))
				rc = -1;
			sp->name = str(&a, json_string_value(json_object_get(s, "name")) ?: "");
			sp->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)json_integer_value(json_object_get(s, "kind"));
			sp->start_time_unix_nano = (uint64_t)json_integer_value(json_object_get(s, "start"));
			sp->end_time_unix_nano = (uint64_t)json_integer_value(json_object_get(s, "end"));
			sp->attributes = key_values(&a, json_object_get(s, "attributes"), &sp->n_attributes);
			st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)json_integer_value(
				json_object_get(s, "code"));
			st->message = str(&a, json_string_value(json_object_get(s, "message")));
			sp->status = st;
			ss->spans[ss->n_spans++] = sp;
		}
		rs->scope_spans = alloc(&a, sizeof(*rs->scope_spans));
		rs->scope_spans[0] = ss;
		rs->n_scope_spans = 1;
		req.resource_spans[i] = rs;
	}
	if (rc == 0) {
		*len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
		*out = ws_malloc(*len ? *len : 1);
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, *out);
	}
	arena_free(&a);
	return rc;
}

/* ---- OTLP/JSON ---- */

static json_t *json_any(json_t *v);

static json_t *json_kvs(json_t *obj)
{
	json_t *arr = json_array(), *v;
	const char *k;

	json_object_foreach(obj, k, v)
	{
		json_t *av = json_any(v);
		if (av)
			json_array_append_new(arr, json_pack("{s:s, s:o}", "key", k, "value", av));
	}
	return arr;
}

static json_t *json_any(json_t *v)
{
	char buf[32];

	switch (json_typeof(v)) {
	case JSON_STRING: return json_pack("{s:O}", "stringValue", v);
	case JSON_INTEGER: /* int64: a decimal string */
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return json_pack("{s:s}", "intValue", buf);
	case JSON_REAL: return json_pack("{s:O}", "doubleValue", v);
	case JSON_TRUE:
	case JSON_FALSE: return json_pack("{s:b}", "boolValue", json_is_true(v));
	case JSON_ARRAY: {
		json_t *vals = json_array(), *e;
		size_t i;
		json_array_foreach(v, i, e)
		{
			json_t *ev = json_any(e);
			if (ev)
				json_array_append_new(vals, ev);
		}
		return json_pack("{s:{s:o}}", "arrayValue", "values", vals);
	}
	case JSON_OBJECT: return json_pack("{s:{s:o}}", "kvlistValue", "values", json_kvs(v));
	default: return NULL;
	}
}

static int encode_json(const struct ws_otlp_batch *b, uint8_t **out, size_t *len)
{
	json_t *rss = json_array(), *r;
	size_t i;

	json_array_foreach(b->resources, i, r)
	{
		json_t *spans = json_array(), *s;
		size_t k;
		json_array_foreach(json_object_get(r, "spans"), k, s)
		{
			char t0[24], t1[24];
			snprintf(t0, sizeof(t0), "%lld", (long long)json_integer_value(json_object_get(s, "start")));
			snprintf(t1, sizeof(t1), "%lld", (long long)json_integer_value(json_object_get(s, "end")));
			json_t *st = json_pack("{s:I}", "code", json_integer_value(json_object_get(s, "code")));
			const char *msg = json_string_value(json_object_get(s, "message"));
			if (msg && *msg)
				json_object_set_new(st, "message", json_string(msg));
			json_t *o = json_pack("{s:O, s:O, s:O, s:O, s:O, s:s, s:s, s:o, s:o}", "traceId",
					      json_object_get(s, "traceId"), "spanId", json_object_get(s, "spanId"),
					      "parentSpanId", json_object_get(s, "parentSpanId"), "name",
					      json_object_get(s, "name"), "kind", json_object_get(s, "kind"),
					      "startTimeUnixNano", t0, "endTimeUnixNano", t1, "attributes",
					      json_kvs(json_object_get(s, "attributes")), "status", st);
			if (!o)
				return -1;
			json_array_append_new(spans, o);
		}
		json_array_append_new(rss, json_pack("{s:{s:o}, s:[{s:{s:s}, s:o}]}", "resource", "attributes",
						     json_kvs(json_object_get(r, "attributes")), "scopeSpans", "scope",
						     "name", SCOPE_NAME, "spans", spans));
	}
	json_t *req = json_pack("{s:o}", "resourceSpans", rss);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return -1;
	*out = (uint8_t *)text;
	*len = strlen(text);
	return 0;
}

int ws_otlp_encode(const struct ws_otlp_batch *b, enum ws_otlp_format f, uint8_t **out, size_t *len)
{
	return f == WS_OTLP_JSON ? encode_json(b, out, len) : encode_protobuf(b, out, len);
}
