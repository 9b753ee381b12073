using System;
using System.Diagnostics;
using System.IO;

namespace M3ter.Auth.TestSupport;

/// <summary>Finds and starts a program of this repository that the build put next to the tests (same configuration), as a separate OS process.</summary>
public static class BuiltProgram
{
    /// <summary>The path of <paramref name="assemblyName"/>.dll in <paramref name="projectDirectory"/>'s output (bin/&lt;configuration&gt;/net10.0).</summary>
    public static string PathOf(string projectDirectory, string assemblyName)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(System.IO.Path.DirectorySeparatorChar));
        DirectoryInfo? root = output;
        while (root is not null && !File.Exists(System.IO.Path.Combine(root.FullName, "M3ter.Auth.sln")))
        {
            root = root.Parent;
        }

        string path = System.IO.Path.Combine(root!.FullName, projectDirectory, "bin", output.Parent!.Name, output.Name, assemblyName + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{assemblyName} is not built at {path}", path);
    }

    /// <summary>Starts <c>dotnet &lt;dll&gt; args</c> with its standard streams redirected.</summary>
    public static Process Start(string dll, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    /// <summary>Sends SIGTERM, as a container runtime or systemd does on stop.</summary>
    public static void Terminate(Process process)
    {
        using Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }
}
