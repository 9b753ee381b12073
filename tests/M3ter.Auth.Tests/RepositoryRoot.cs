using System;
using System.IO;

namespace M3ter.Auth.Tests;

/// <summary>The folder that holds M3ter.Auth.sln, for tests that read the repository's own files.</summary>
internal static class RepositoryRoot
{
    public static readonly string Path = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "M3ter.Auth.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("M3ter.Auth.sln not found above " + AppContext.BaseDirectory);
    }
}
