using System;

namespace M3ter.Auth.Internal;

/// <summary>A thread-safe source of random numbers for jitter (not for anything secret).</summary>
internal static class Jitter
{
#if NET6_0_OR_GREATER
    public static double NextDouble() => Random.Shared.NextDouble();
#else
    private static readonly Random Shared = new();

    public static double NextDouble()
    {
        lock (Shared)
        {
            return Shared.NextDouble();
        }
    }
#endif
}
