using System.Reflection;
using System.Runtime.InteropServices;

namespace Ecrm.Common.Kafka;

/// <summary>
/// Binds every Kafka client in the process, and the mock cluster, to the librdkafka that
/// librdkafka.redist bundles, by absolute path. Left to the runtime's probing, Debian 12 gets it wrong
/// twice: the package's default <c>librdkafka.so</c> links <c>libsasl2.so.3</c>, which Debian lacks, so it
/// does not load; and a machine with Debian's <c>librdkafka1</c> (every machine with ClickHouse: its
/// package depends on it) then silently binds that 2.0.2 library, and the first Consume throws
/// <see cref="EntryPointNotFoundException"/>. The package's centos8 build needs only glibc.
/// <c>Confluent.Kafka.Library.Load(path)</c> would be the library's own way, but it needs <c>libdl.so</c>,
/// which Debian 12 only has as <c>libdl.so.2</c>.
/// </summary>
public static class KafkaNativeLibrary
{
    private static readonly Lazy<(IntPtr Handle, string Path)> Loaded = new(LoadBundled);
    private static readonly Lock Installing = new();
    private static readonly HashSet<Assembly> Resolved = [];

    /// <summary>Where the bound library was loaded from.</summary>
    public static string Path => Loaded.Value.Path;

    /// <summary>
    /// Installs the resolver for Confluent.Kafka's bindings (and for <paramref name="alsoFor"/>, an
    /// assembly with its own P/Invokes into librdkafka). Idempotent; it must run before the first call
    /// into librdkafka, which <see cref="KafkaClientFactory"/> guarantees for every client it builds.
    /// </summary>
    public static void Install(Assembly? alsoFor = null)
    {
        lock (Installing)
        {
            foreach (var assembly in new[] { typeof(Confluent.Kafka.Library).Assembly, alsoFor })
            {
                if (assembly is not null && Resolved.Add(assembly))
                {
                    NativeLibrary.SetDllImportResolver(assembly, Resolve);
                }
            }
        }
    }

    /// <summary>"librdkafka 2.16.0 (…/centos8-librdkafka.so)": what a service logs at start-up.</summary>
    public static string Describe()
    {
        Install();
        return $"librdkafka {Confluent.Kafka.Library.VersionString} ({Path}), Confluent.Kafka {typeof(Confluent.Kafka.Library).Assembly.GetName().Version}";
    }

    // Confluent.Kafka binds three names (librdkafka, centos8-librdkafka, alpine-librdkafka) and tries
    // them in turn: each gets the one bundled build, so no fallback can reach a system library.
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name.Contains("librdkafka", StringComparison.Ordinal) ? Loaded.Value.Handle : IntPtr.Zero;

    private static (IntPtr, string) LoadBundled()
    {
        var native = System.IO.Path.Combine(AppContext.BaseDirectory, "runtimes", PackageRuntimeFolder(), "native");
        // The centos8 build (x64 only) needs nothing but glibc; elsewhere the package's one Linux build.
        string[] candidates = OperatingSystem.IsWindows() ? ["librdkafka.dll"]
            : OperatingSystem.IsMacOS() ? ["librdkafka.dylib"]
            : ["centos8-librdkafka.so", "librdkafka.so"];
        var errors = new List<string>();
        foreach (var candidate in candidates)
        {
            var path = System.IO.Path.Combine(native, candidate);
            if (!File.Exists(path))
            {
                errors.Add($"{path}: missing");
                continue;
            }

            try
            {
                return (NativeLibrary.Load(path), path);
            }
            catch (DllNotFoundException e)
            {
                errors.Add($"{path}: {e.Message}");
            }
        }

        throw new DllNotFoundException(
            $"the librdkafka bundled in librdkafka.redist could not be loaded ({string.Join("; ", errors)}); the operating system's librdkafka is never used in its place");
    }

    private static string PackageRuntimeFolder()
    {
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        var architecture = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.X86 => "x86",
            Architecture.Arm64 => "arm64",
            Architecture.S390x => "s390x",
            var other => other.ToString().ToLowerInvariant(),
        };
        return $"{os}-{architecture}";
    }
}
