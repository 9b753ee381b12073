using System;
using M3ter.Auth.Testing.Internal;

namespace M3ter.Auth.Fuzz;

/// <summary>The emulator's ingest body, as a fuzz target: what its ingest endpoint does with the bytes it receives.</summary>
public static class EmulatorTargets
{
    private static readonly DateTimeOffset ReceivedAt = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Any bytes: a problem (not JSON, or a broken rule) or an acceptance, never an exception.</summary>
    public static void IngestBody(ReadOnlySpan<byte> input) => _ = MeasurementValidation.ValidateBody(input.ToArray(), ReceivedAt, out _);
}
