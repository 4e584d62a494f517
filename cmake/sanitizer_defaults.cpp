// Runtime options built into every executable of the asan and tsan presets.
//
// intercept_tls_get_addr=0 — why: GCC 12's sanitizer runtime (libasan.so.8, libtsan.so.2;
// the same code is in LLVM up to 16) intercepts __tls_get_addr, the call through which a
// thread first touches the thread-local variables of a library loaded with dlopen. To learn
// where the new block of thread-local storage lies it guesses from its address: a block that
// begins 16 bytes past a 4096-byte boundary is taken to carry the header glibc 2.19-2.24 put
// in front of it, and the two words before it are read as the block's start and size. glibc
// 2.25 and later (Debian 12 has 2.36) have no such header: the block comes from malloc, and
// when malloc happens to return an address at that offset the two words are whatever lies
// before it (under ASan: the allocator's chunk header), so the recorded start and size are
// garbage. At exit LeakSanitizer's stop-the-world tracer scans every recorded block for
// pointers, reads the garbage range and dies: "Tracer caught signal 11 ... LeakSanitizer has
// encountered a fatal error", exit 1, although the program itself ended cleanly.
//
// The viewer meets this through the GL driver: Mesa's llvmpipe is loaded with dlopen and
// brings libLLVM-15 with it, whose thread-local variables get dynamic TLS blocks that ASan
// places in its 48-byte chunks. Those start on a page boundary once every 256 chunks, so
// about one placement in 256 per block is misread; which chunk a block gets depends on every
// allocation before it, so a viewer test failed now and then and passed when rerun (the
// viewer_soak failure at exit). In a small GLFW program drawing under Xvfb, steering the block
// to that offset gave the CI message 3 times in 3, and none with this option
// (docs/performance.md, "CI"). cmake/dtls_check puts such
// a block at that offset on purpose and fails without this option. The runtime's debug log
// shows the misreading: ASAN_OPTIONS=verbosity=2 prints "__tls_get_addr: glibc >=2.19
// suspected; tls={...}" with the garbage start and size.
//
// With the interception off the runtime records no such block and scans no such range. Leak
// checking loses nothing it relied on: the blocks come from malloc and glibc points at them
// from the thread's DTV, which LeakSanitizer reaches through the thread's own TLS area, so a
// pointer kept only in a dynamic thread-local variable is still found (checked: no leak is
// reported for it with the option off). ThreadSanitizer has the same interceptor and makes
// the same misreading (its log shows "glibc >=2.19 suspected" for a block at that offset); it
// then resets the shadow of the garbage range. Its malloc interceptor already gives the block
// fresh shadow, so the option is off there too.
//
// The presets' environment (CMakePresets.json) sets the same option; an option given in
// ASAN_OPTIONS / TSAN_OPTIONS by hand still wins over these defaults.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "intercept_tls_get_addr=0"; }
#endif
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() { return "intercept_tls_get_addr=0"; }
#endif
