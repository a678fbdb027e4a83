# Build settings of the wasm engine, included by the top-level CMakeLists.txt.

if(SWARM_SANITIZE)
  # Once ASan and UBSan have instrumented the interpreter's one large computed-goto function,
  # clang's -O1 pipeline spends many minutes on it; at -O0 every check is still there and the
  # file builds in seconds. The rest of the sanitized build stays at -O1.
  set_source_files_properties("${CMAKE_CURRENT_LIST_DIR}/interp.c" PROPERTIES COMPILE_OPTIONS -O0)
endif()
