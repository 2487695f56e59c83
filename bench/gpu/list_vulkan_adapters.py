"""Lists the Vulkan adapters the loader sees, the way Dawn (onnxruntime's WebGPU) will.

The GPU host has Python but no vulkaninfo, so this calls the Vulkan loader through ctypes:
vkCreateInstance, vkEnumeratePhysicalDevices, vkGetPhysicalDeviceProperties. Exits 0 with one
line per adapter, or 1 with one line saying which piece is missing (loader or driver).
"""

import ctypes
import sys

DEVICE_TYPES = {0: "other", 1: "integrated GPU", 2: "discrete GPU", 3: "virtual GPU", 4: "CPU (software)"}
VK_ERROR_INCOMPATIBLE_DRIVER = -9


class InstanceCreateInfo(ctypes.Structure):
    _fields_ = [
        ("sType", ctypes.c_uint32),
        ("pNext", ctypes.c_void_p),
        ("flags", ctypes.c_uint32),
        ("pApplicationInfo", ctypes.c_void_p),
        ("enabledLayerCount", ctypes.c_uint32),
        ("ppEnabledLayerNames", ctypes.c_void_p),
        ("enabledExtensionCount", ctypes.c_uint32),
        ("ppEnabledExtensionNames", ctypes.c_void_p),
    ]


def version(packed: int) -> str:
    return f"{(packed >> 22) & 0x7F}.{(packed >> 12) & 0x3FF}.{packed & 0xFFF}"


def main() -> int:
    try:
        vulkan = ctypes.CDLL("libvulkan.so.1")
    except OSError as error:
        print(f"no Vulkan loader: {error} (install libvulkan1)")
        return 1
    instance = ctypes.c_void_p()
    info = InstanceCreateInfo(sType=1)  # VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
    result = vulkan.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance))
    if result == VK_ERROR_INCOMPATIBLE_DRIVER:
        print("the Vulkan loader found no driver (ICD): on NVIDIA set VK_DRIVER_FILES to nvidia_icd.json")
        return 1
    if result != 0:
        print(f"vkCreateInstance failed with VkResult {result}")
        return 1
    count = ctypes.c_uint32(0)
    vulkan.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
    devices = (ctypes.c_void_p * count.value)()
    vulkan.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), devices)
    for index, device in enumerate(devices):
        # VkPhysicalDeviceProperties starts apiVersion, driverVersion, vendorID, deviceID,
        # deviceType (uint32 each), then deviceName[256]; the rest (limits) is not read.
        properties = ctypes.create_string_buffer(4096)
        vulkan.vkGetPhysicalDeviceProperties(ctypes.c_void_p(device), properties)
        fields = ctypes.cast(properties, ctypes.POINTER(ctypes.c_uint32))
        name = properties.raw[20:276].split(b"\0", 1)[0].decode(errors="replace")
        kind = DEVICE_TYPES.get(fields[4], str(fields[4]))
        print(f"adapter {index}: {name} ({kind}, Vulkan {version(fields[0])}, vendor 0x{fields[2]:04x})")
    vulkan.vkDestroyInstance(instance, None)
    if count.value == 0:
        print("the Vulkan driver lists no adapter")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
