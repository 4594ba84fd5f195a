/* http1.h -- HTTP/1.x parser (see http1.c). Reached through ws_http1_ops. */
#ifndef WIRESPAN_HTTP1_H
#define WIRESPAN_HTTP1_H

#include "proto/proto.h"

#endif
