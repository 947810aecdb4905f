# CMake package for an installed libglance: find_package(glance) gives the imported targets
# glance::glance (shared) and glance::glance_static.
get_filename_component(_glance_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET glance::glance)
  add_library(glance::glance SHARED IMPORTED)
  set_target_properties(glance::glance PROPERTIES
    IMPORTED_LOCATION "${_glance_prefix}/lib/libglance.so"
    INTERFACE_INCLUDE_DIRECTORIES "${_glance_prefix}/include")
  add_library(glance::glance_static STATIC IMPORTED)
  set_target_properties(glance::glance_static PROPERTIES
    IMPORTED_LOCATION "${_glance_prefix}/lib/libglance.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_glance_prefix}/include"
    INTERFACE_LINK_LIBRARIES "pthread;dl;m")
endif()
set(glance_FOUND TRUE)
