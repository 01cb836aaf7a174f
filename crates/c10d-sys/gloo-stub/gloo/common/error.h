// See ../context.h: nothing of gloo's error types is used by lot's shim.
#pragma once
