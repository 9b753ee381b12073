using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace M3ter.Auth.Internal;

/// <summary>
/// The <c>m3ter.auth.token.remaining_lifetime</c> gauge of one container: it reports the registrations of that
/// container, on a meter of the container's <see cref="IMeterFactory"/> (or a meter of its own when the container has
/// none), so it ends with the container instead of living in a static list that points into objects the container
/// owns. Registered with <c>TryAdd</c>.
/// </summary>
internal sealed class RemainingLifetimeGauge : IDisposable
{
    public const string InstrumentName = "m3ter.auth.token.remaining_lifetime";

    private readonly List<M3terAuthRegistration> _registrations = new();
    private readonly Meter? _ownMeter;

    /// <param name="meterFactory">The container's meter factory (which disposes its meters with the container); null for a meter of the gauge's own, disposed with it.</param>
    public RemainingLifetimeGauge(IMeterFactory? meterFactory)
    {
        Meter meter;
        if (meterFactory is null)
        {
            meter = _ownMeter = new Meter(M3terAuthDiagnostics.Name);
        }
        else
        {
            meter = meterFactory.Create(new MeterOptions(M3terAuthDiagnostics.Name));
        }

        meter.CreateObservableGauge(InstrumentName, Observe, unit: "s", description: "Seconds until the cached token expires (0 when there is no valid token), per registration.");
    }

    /// <summary>Reports <paramref name="registration"/>'s token from now on.</summary>
    public void Track(M3terAuthRegistration registration)
    {
        lock (_registrations)
        {
            _registrations.Add(registration);
        }
    }

    /// <summary>Stops reporting <paramref name="registration"/> (it is being disposed).</summary>
    public void Untrack(M3terAuthRegistration registration)
    {
        lock (_registrations)
        {
            _registrations.Remove(registration);
        }
    }

    /// <summary>Disposes the meter of the gauge's own, if it has one; the container's meter factory disposes its own meters.</summary>
    public void Dispose() => _ownMeter?.Dispose();

    private IEnumerable<Measurement<double>> Observe()
    {
        lock (_registrations)
        {
            var measurements = new Measurement<double>[_registrations.Count];
            for (int i = 0; i < measurements.Length; i++)
            {
                M3terAuthRegistration registration = _registrations[i];
                measurements[i] = new Measurement<double>(registration.RemainingLifetime().TotalSeconds, new KeyValuePair<string, object?>("m3ter.auth.registration", registration.DisplayName));
            }

            return measurements;
        }
    }
}
