# socklab::version — the project version for every program's --version, from project(VERSION).
# A generated header (socklab/version.hpp in the build tree), rewritten only when the version
# changes, so bumping it in the top-level project() is the one place to do it.
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.hpp.in
               ${PROJECT_BINARY_DIR}/generated/include/socklab/version.hpp @ONLY)
add_library(socklab_version INTERFACE)
add_library(socklab::version ALIAS socklab_version)
target_include_directories(socklab_version INTERFACE ${PROJECT_BINARY_DIR}/generated/include)
