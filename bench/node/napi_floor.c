/* napi_floor.c: the cost of one N-API call and nothing else, measured next
 * to sharena and the seed package (bench/node/bench.js). noop(h, id) takes
 * two numbers and returns a double, the shape of NumberRef.obtainValue's
 * native call, so the difference between the two is what sharena itself
 * adds. Built by bench/run.sh; not part of any package. */
#include <node_api.h>

static napi_value noop(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    uint32_t h = 0;
    double id = 0;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    napi_get_value_uint32(env, argv[0], &h);
    napi_get_value_double(env, argv[1], &id);
    napi_create_double(env, 0.5 + h + id, &out);
    return out;
}

static napi_value init(napi_env env, napi_value exports)
{
    napi_value f;
    napi_create_function(env, "noop", NAPI_AUTO_LENGTH, noop, NULL, &f);
    napi_set_named_property(env, exports, "noop", f);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
