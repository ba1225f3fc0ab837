/*
 * Test-harness only: Wine 8.0 (Debian 12) has no bcryptprimitives.dll, whose ProcessPrng the
 * Rust standard library imports for randomness since Rust 1.78. This DLL exports ProcessPrng and
 * forwards to RtlGenRandom (advapi32's SystemFunction036), which Wine has. scripts/wine/run.sh
 * places it beside a test executable; it is never shipped to users (real Windows has the DLL).
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
