# The CUDA backend (backends/cuda), built when HEED_CUDA is ON, or AUTO and the
# CUDA toolkit (nvcc, cudart, cuBLAS) is found. Without it heed is CPU-only and
# Device::cuda is refused with a message saying so.
set(HEED_WITH_CUDA OFF)
set(HEED_CUDA_DEPS "")
set(HEED_CUDA_OBJECTS "")
if(NOT HEED_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(HEED_WITH_CUDA ON)
  elseif(HEED_CUDA STREQUAL "ON")
    message(FATAL_ERROR "HEED_CUDA=ON, but no CUDA compiler was found (set CUDACXX or CMAKE_CUDA_COMPILER)")
  endif()
endif()

if(HEED_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)  # Hopper (H100, H200); override with -DCMAKE_CUDA_ARCHITECTURES=...
  endif()
  set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA20 for nvcc; the .cu files need only C++17
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # Device code apart: the .cu files include only backends/cuda/cuda_kernels.h,
  # and none of the host dependencies' include paths (nvcc breaks on an explicit
  # -isystem /usr/include).
  file(GLOB HEED_CUDA_DEVICE_SOURCES CONFIGURE_DEPENDS backends/cuda/*.cu)
  add_library(heed_cuda_device OBJECT ${HEED_CUDA_DEVICE_SOURCES})
  target_include_directories(heed_cuda_device PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  set_target_properties(heed_cuda_device PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
    CUDA_STANDARD 17 POSITION_INDEPENDENT_CODE ON CUDA_VISIBILITY_PRESET hidden)
  file(GLOB HEED_CUDA_HOST_SOURCES CONFIGURE_DEPENDS backends/cuda/*.cc)
  target_sources(heed_objects PRIVATE ${HEED_CUDA_HOST_SOURCES})
  set(HEED_CUDA_OBJECTS $<TARGET_OBJECTS:heed_cuda_device>)  # packaged into libheed.so and libheed.a
  set_target_properties(heed_objects PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}" CUDA_STANDARD 17)
  target_compile_definitions(heed_objects PRIVATE HEED_HAS_CUDA)
  # cuBLAS is opened on first use (backends/cuda/cublas_loader.cc), not linked,
  # and the CUDA runtime is linked statically (it opens the driver on first use):
  # a CPU-only run loads no CUDA library at all.
  set_source_files_properties(backends/cuda/cublas_loader.cc PROPERTIES
    COMPILE_DEFINITIONS "HEED_CUDA_LIBRARY_DIR=\"${CUDAToolkit_LIBRARY_DIR}\"")
  target_link_libraries(heed_objects PRIVATE CUDA::cudart_static ${CMAKE_DL_LIBS})
  set(HEED_CUDA_DEPS CUDA::cudart_static ${CMAKE_DL_LIBS})
  message(STATUS "heed: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "heed: CUDA backend OFF")
endif()
