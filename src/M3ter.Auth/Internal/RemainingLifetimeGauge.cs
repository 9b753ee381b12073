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

    // Weakly: the meter outlives a container that is dropped without being disposed (every meter is in a process-wide
    // list until disposed), and a registration holds the container; held strongly, such a container would never be collected.
    private readonly List<WeakReference<M3terAuthRegistration>> _registrations = new();
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
            _registrations.Add(new WeakReference<M3terAuthRegistration>(registration));
        }
    }

    /// <summary>Stops reporting <paramref name="registration"/> (it is being disposed).</summary>
    public void Untrack(M3terAuthRegistration registration)
    {
        lock (_registrations)
        {
            _registrations.RemoveAll(r => !r.TryGetTarget(out M3terAuthRegistration? live) || ReferenceEquals(live, registration));
        }
    }

    /// <summary>Disposes the meter of the gauge's own, if it has one; the container's meter factory disposes its own meters.</summary>
    public void Dispose() => _ownMeter?.Dispose();

    private IEnumerable<Measurement<double>> Observe()
    {
        var measurements = new List<Measurement<double>>();
        lock (_registrations)
        {
            _registrations.RemoveAll(r => !r.TryGetTarget(out _));
            foreach (WeakReference<M3terAuthRegistration> reference in _registrations)
            {
                if (reference.TryGetTarget(out M3terAuthRegistration? registration))
                {
                    measurements.Add(new Measurement<double>(registration.RemainingLifetime().TotalSeconds, new KeyValuePair<string, object?>("m3ter.auth.registration", registration.DisplayName)));
                }
            }
        }

        return measurements;
    }
}
