# socklab_set_warnings(<target>): the project's warning set on one target.
# Warnings become errors with SOCKLAB_WERROR (the dev, asan, tsan and ci presets turn it on).
add_library(socklab_options INTERFACE)
add_library(socklab::options ALIAS socklab_options)
target_compile_options(socklab_options INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
    $<$<BOOL:${SOCKLAB_WERROR}>:-Werror>)
if(SOCKLAB_SANITIZE)
    target_compile_options(socklab_options INTERFACE -fsanitize=${SOCKLAB_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(socklab_options INTERFACE -fsanitize=${SOCKLAB_SANITIZE})
    # Every executable of a sanitizer build carries the runtime options it needs to be
    # reliable (see sanitizer_defaults.cpp for why), so a program started by hand or by a
    # test that clears the environment behaves as it does under ctest.
    target_sources(socklab_options INTERFACE
        $<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:${CMAKE_CURRENT_LIST_DIR}/sanitizer_defaults.cpp>)
endif()
