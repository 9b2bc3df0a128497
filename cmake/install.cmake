# `cmake --install`: libheed.so and libheed.a, the public headers, a CMake
# package (find_package(heed) -> heed::heed, heed::heed_static) and heed.pc.
include(CMakePackageConfigHelpers)
set(HEED_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/heed)

install(TARGETS heed EXPORT heedTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS heed_static EXPORT heedStaticTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS heed_tool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/heed DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(EXPORT heedTargets NAMESPACE heed:: DESTINATION ${HEED_CMAKE_DIR})
install(EXPORT heedStaticTargets NAMESPACE heed:: DESTINATION ${HEED_CMAKE_DIR})

configure_package_config_file(cmake/heedConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/heedConfig.cmake
  INSTALL_DESTINATION ${HEED_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/heedConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/heedConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/heedConfigVersion.cmake
  DESTINATION ${HEED_CMAKE_DIR})

file(RELATIVE_PATH HEED_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)  # relocatable heed.pc
set(HEED_PC_CUDA_LIBS "")
if(HEED_WITH_CUDA)
  set(HEED_PC_CUDA_LIBS "-L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -ldl -lrt -lpthread")
endif()
configure_file(cmake/heed.pc.in ${CMAKE_CURRENT_BINARY_DIR}/heed.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/heed.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
