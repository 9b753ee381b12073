namespace IngestWorker;

/// <summary>The sample's own settings (from its command line).</summary>
public sealed record IngestWorkerSettings(double MeasurementsPerSecond, string OrganizationId);
