// Runtime options built into every executable of the asan and tsan presets.
//
// intercept_tls_get_addr=0 — why: GCC 12's sanitizer runtime (libasan.so.8, libtsan.so.2;
// the same code is in LLVM up to 16) intercepts __tls_get_addr, the call through which a
// thread first touches the thread-local variables of a shared library (here: Mesa's
// llvmpipe, libGLX and friends, whose worker threads the viewer starts). To learn where the
// new block of thread-local storage lies it guesses from its address: a block that begins
// 16 bytes past a 4096-byte boundary is taken to carry the header glibc 2.19-2.24 put in
// front of it, and the two words before it are read as the block's start and size. glibc
// 2.25 and later (Debian 12 has 2.36) have no such header; the block comes from malloc, and
// when malloc happens to return an address at that offset the two words are the allocator's
// own chunk header, so the recorded start and size are garbage. At exit LeakSanitizer's
// stop-the-world tracer scans every recorded block for pointers, reads the garbage range and
// dies: "Tracer caught signal 11 ... LeakSanitizer has encountered a fatal error", exit 1,
// although the program itself ended cleanly. Whether it happens depends on where malloc put
// one block in one run, so a test of the viewer failed now and then and passed when rerun.
// (The runtime's debug log shows it: ASAN_OPTIONS=verbosity=2 prints "__tls_get_addr: glibc
// >=2.19 suspected; tls={...}" with the garbage start and size.)
//
// With the interception off the runtime records nothing and scans no such range. Leak
// checking loses nothing it relied on: glibc 2.25+ allocates these blocks with malloc and
// points at them from the thread's DTV, itself reachable from the thread descriptor that
// LeakSanitizer scans, so the blocks and what they point to are still seen as reachable.
// ThreadSanitizer has the same interceptor (it clears the shadow of the recorded range, a
// garbage range there is a write to shadow memory nobody asked for); malloc's own
// interceptor already gives these blocks fresh shadow, so it is off there too.
//
// The presets' environment (CMakePresets.json) sets the same option; an option given in
// ASAN_OPTIONS / TSAN_OPTIONS by hand still wins over these defaults.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "intercept_tls_get_addr=0"; }
#endif
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() { return "intercept_tls_get_addr=0"; }
#endif
