# The front ends (cli/, labs/, viewer/) share code through socklab::frontend and
# socklab::core only: none includes a header of another front end, and none climbs out of its
# folder with "../". Run by ctest (test `layout.frontends_stand_alone`):
#   cmake -DSOURCE_DIR=<repo> -P check_frontends.cmake
cmake_minimum_required(VERSION 3.25)
if(NOT SOURCE_DIR)
    message(FATAL_ERROR "give -DSOURCE_DIR=<the repository>")
endif()

# Each front end and the folder its includes are written relative to.
set(frontends cli labs viewer)
set(root_cli ${SOURCE_DIR}/cli)
set(root_labs ${SOURCE_DIR}/labs/labkit)
set(root_viewer ${SOURCE_DIR}/viewer)

# The include names each front end's own headers answer to.
foreach(fe IN LISTS frontends)
    file(GLOB_RECURSE headers RELATIVE ${root_${fe}} ${root_${fe}}/*.hpp ${root_${fe}}/*.h)
    # A header under an include/ folder is included by its path below that folder.
    foreach(h IN LISTS headers)
        if(h MATCHES "(^|/)include/(.+)$")
            list(APPEND headers ${CMAKE_MATCH_2})
        endif()
    endforeach()
    set(headers_${fe} ${headers})
endforeach()

set(problems "")
foreach(fe IN LISTS frontends)
    file(GLOB_RECURSE sources ${SOURCE_DIR}/${fe}/*.cpp ${SOURCE_DIR}/${fe}/*.hpp ${SOURCE_DIR}/${fe}/*.h)
    foreach(src IN LISTS sources)
        file(STRINGS ${src} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
        file(RELATIVE_PATH where ${SOURCE_DIR} ${src})
        foreach(line IN LISTS lines)
            string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" name "${line}")
            if(name MATCHES "(^|/)\\.\\./")
                list(APPEND problems "${where}: #include \"${name}\" climbs out of ${fe}/")
            endif()
            foreach(other IN LISTS frontends)
                if(NOT other STREQUAL fe AND name IN_LIST headers_${other})
                    # A name this front end also has is its own file.
                    if(NOT name IN_LIST headers_${fe})
                        list(APPEND problems "${where}: #include \"${name}\" is a header of ${other}/")
                    endif()
                endif()
            endforeach()
        endforeach()
    endforeach()
endforeach()

if(problems)
    list(JOIN problems "\n  " text)
    message(FATAL_ERROR "front ends must share through frontend/ or core/:\n  ${text}")
endif()
message(STATUS "front ends: no header of another front end, no ../ includes")
