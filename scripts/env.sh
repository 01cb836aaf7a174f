# Source this: puts the cached torch venv first on PATH so tch builds and runs against torch 2.11.0.
LOT_CACHE="${LOT_CACHE:-$HOME/.cache/lot}"
export LOT_VENV="${LOT_VENV:-$LOT_CACHE/venv}"
export PATH="$LOT_VENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
_torch_lib="$("$LOT_VENV/bin/python" -c 'import os,torch;print(os.path.join(os.path.dirname(torch.__file__),"lib"))' 2>/dev/null)"
[ -n "$_torch_lib" ] && export LD_LIBRARY_PATH="$_torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _torch_lib
