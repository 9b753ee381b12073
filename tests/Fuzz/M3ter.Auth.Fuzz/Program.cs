using System;
using System.Collections.Generic;
using System.IO;
using SharpFuzz;

namespace M3ter.Auth.Fuzz;

/// <summary>
/// dotnet M3ter.Auth.Fuzz.dll TARGET: runs TARGET under AFL++ (SharpFuzz's out-of-process loop), reading each input
/// from AFL. dotnet M3ter.Auth.Fuzz.dll TARGET FILE...: runs TARGET once per file, as a replay of findings.
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new(StringComparer.Ordinal)
    {
        ["token-response"] = input => AuthTargets.TokenResponse(input),
        ["jwt-exp"] = input => AuthTargets.JwtExpiry(input),
        ["ingest-body"] = input => EmulatorTargets.IngestBody(input),
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || !Targets.TryGetValue(args[0], out Action<byte[]>? target))
        {
            Console.Error.WriteLine("usage: M3ter.Auth.Fuzz " + string.Join("|", Targets.Keys) + " [FILE...]");
            return 2;
        }

        if (args.Length > 1)
        {
            foreach (string file in args[1..])
            {
                target(File.ReadAllBytes(file));
                Console.WriteLine("ok " + file);
            }

            return 0;
        }

        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target(buffer.ToArray());
        });
        return 0;
    }
}
