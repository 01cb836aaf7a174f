// See context.h: nothing of gloo's algorithms is used by lot's shim.
#pragma once
#include "gloo/context.h"
