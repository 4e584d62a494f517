# Build speed: ccache when it is installed, and sanitizer builds that build only what their
# test suite runs. Nothing here changes what is built into a program.

# ccache as the compiler launcher, when the program is there (Debian: apt install ccache).
# Without it the build is the same, only uncached. A launcher the user chose (the
# CMAKE_<LANG>_COMPILER_LAUNCHER cache variable or environment variable) is left alone;
# -DSOCKLAB_CCACHE=OFF turns it off.
option(SOCKLAB_CCACHE "Compile through ccache when it is installed" ON)
if(SOCKLAB_CCACHE)
    find_program(SOCKLAB_CCACHE_PROGRAM ccache)
    mark_as_advanced(SOCKLAB_CCACHE_PROGRAM)
    if(SOCKLAB_CCACHE_PROGRAM)
        foreach(lang C CXX)
            if(NOT CMAKE_${lang}_COMPILER_LAUNCHER AND NOT DEFINED ENV{CMAKE_${lang}_COMPILER_LAUNCHER})
                set(CMAKE_${lang}_COMPILER_LAUNCHER ${SOCKLAB_CCACHE_PROGRAM})
            endif()
        endforeach()
    endif()
endif()

# socklab_trim_sanitizer_builds(): called once every directory is added. Under the asan and
# tsan presets (SOCKLAB_SANITIZE) the programs no test runs are left out of `all`, so the
# sanitizer builds compile only the suite and what it starts. They can still be built by
# name (cmake --build --preset asan --target socklab_core_bench).
#   socklab_core_bench       snapshot micro-benchmark, run by hand (docs/performance.md)
#   socklab_record_fixtures  re-records tests/fixtures, run by hand as root
function(socklab_trim_sanitizer_builds)
    if(NOT SOCKLAB_SANITIZE)
        return()
    endif()
    foreach(t IN ITEMS socklab_core_bench socklab_record_fixtures)
        if(TARGET ${t})
            set_target_properties(${t} PROPERTIES EXCLUDE_FROM_ALL ON)
        endif()
    endforeach()
endfunction()
