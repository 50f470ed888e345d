namespace Ecrm.Testing;

public static class RepoPaths
{
    /// <summary>The checkout's root: the folder holding Ecrm.sln above the test's own output.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release, whichever the tests themselves were built as.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ecrm.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Ecrm.sln not found above {AppContext.BaseDirectory}");
    }
}
