namespace Ecrm.Common.Hosting;

/// <summary>
/// A progress bar for long command-line jobs (demo data, load, replay, training): redrawn in place on
/// a terminal, one line per tenth when the output goes to a file or a CI log.
/// </summary>
public sealed class ConsoleProgress(long total, string unit = "")
{
    private const int Width = 40;
    private readonly Lock _lock = new();
    private readonly System.Diagnostics.Stopwatch _stopwatch = System.Diagnostics.Stopwatch.StartNew();
    private long _done;
    private int _lastDecile = -1;

    public long Done => Interlocked.Read(ref _done);

    public void Add(long count)
    {
        lock (_lock)
        {
            _done += count;
            var fraction = total == 0 ? 1 : Math.Min(1, (double)_done / total);
            var rate = _done / Math.Max(_stopwatch.Elapsed.TotalSeconds, 1e-3);
            if (!Console.IsOutputRedirected)
            {
                var filled = (int)(fraction * Width);
                Console.Write($"\r[{new string('#', filled)}{new string('.', Width - filled)}] {_done:N0}/{total:N0} {unit} ({rate:N0}/s)");
            }
            else if ((int)(fraction * 10) > _lastDecile)
            {
                _lastDecile = (int)(fraction * 10);
                Console.WriteLine($"{_done:N0}/{total:N0} {unit} ({fraction:P0}, {rate:N0}/s)");
            }
        }
    }

    public void Finish()
    {
        if (!Console.IsOutputRedirected)
        {
            Console.WriteLine();
        }

        Console.WriteLine($"{Done:N0} {unit} in {_stopwatch.Elapsed.TotalSeconds:F1} s");
    }
}
