using System.Runtime.InteropServices;

namespace Ecrm.LoadDriver;

/// <summary>
/// Sleeps for microseconds: Thread.Sleep and timers work in whole milliseconds, too coarse for a request
/// every 500 µs. nanosleep on Linux wakes within tens of microseconds, without spinning a shared core.
/// </summary>
internal static partial class PreciseSleep
{
    public static void For(long microseconds)
    {
        if (microseconds <= 0)
        {
            return;
        }

        if (!OperatingSystem.IsLinux())
        {
            Thread.Sleep(TimeSpan.FromMicroseconds(microseconds));
            return;
        }

        var time = new TimeSpec { Seconds = microseconds / 1_000_000, Nanoseconds = microseconds % 1_000_000 * 1000 };
        _ = NanoSleep(in time, IntPtr.Zero);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static partial int NanoSleep(in TimeSpec duration, IntPtr remaining);
}
