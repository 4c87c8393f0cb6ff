# Sanitizer builds: include(cmake/sanitizers.cmake) right after project().
#
#   cmake -S . -B build-asan -DXIO_SANITIZE=address,undefined
#   cmake -S . -B build-tsan -DXIO_SANITIZE=thread
#
# XIO_SANITIZE is a comma-separated list passed to -fsanitize= for every
# target of the project (compile and link): address, undefined, leak,
# thread (thread cannot be combined with address or leak). Empty (the
# default) changes nothing.
#
# Every target gets the flags, so the shim (libxio_preload.so) is
# instrumented too. Loaded into a program that is not, it needs the runtime
# first: the tests' environment sets LD_PRELOAD=<libasan/libtsan> in front
# (xio-run keeps what is there) and, for ASan, verify_asan_link_order=0
# (see .ci/sanitizers). With gcc the runtimes are shared libraries, which
# is what a preloaded library needs; prefer gcc for these builds.

include_guard(GLOBAL)

set(XIO_SANITIZE "" CACHE STRING
  "comma-separated -fsanitize= list for all targets (address,undefined | thread | empty)")

if(XIO_SANITIZE)
  string(REPLACE " " "" _xio_san "${XIO_SANITIZE}")
  string(REPLACE "," ";" _xio_san_list "${_xio_san}")
  foreach(_s ${_xio_san_list})
    if(NOT _s MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "XIO_SANITIZE: unknown sanitizer '${_s}' (address, undefined, leak, thread)")
    endif()
  endforeach()
  if("thread" IN_LIST _xio_san_list AND ("address" IN_LIST _xio_san_list OR "leak" IN_LIST _xio_san_list))
    message(FATAL_ERROR "XIO_SANITIZE: thread cannot be combined with address or leak")
  endif()

  set(_xio_san_flags -fsanitize=${_xio_san} -fno-omit-frame-pointer -g)
  if("undefined" IN_LIST _xio_san_list)
    # a report fails the test instead of scrolling by
    list(APPEND _xio_san_flags -fno-sanitize-recover=undefined)
  endif()
  if("thread" IN_LIST _xio_san_list AND CMAKE_C_COMPILER_ID STREQUAL "GNU")
    # gcc warns that TSan does not model atomic_thread_fence (stack/conn.c's
    # wake-up protocol uses them): a report there may be a false positive;
    # the protocol itself is checked by stack/model/ring_wakeup.pml.
    list(APPEND _xio_san_flags -Wno-tsan)
  endif()
  add_compile_options(${_xio_san_flags})
  add_link_options(-fsanitize=${_xio_san})
  # Sanitized code is slower and bigger; keep optimisation modest and
  # FORTIFY out of the way (ASan intercepts the same calls).
  add_compile_options(-O1 -U_FORTIFY_SOURCE)
  set(XIO_SANITIZE_ACTIVE ON)
  message(STATUS "X-IO: sanitizers ${_xio_san} on every target")
  unset(_s)
  unset(_xio_san_flags)
  unset(_xio_san_list)
  unset(_xio_san)
endif()
