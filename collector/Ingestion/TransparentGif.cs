namespace Ecrm.Collector.Ingestion;

/// <summary>The answer of every pixel (email opens, RudderStack's pixel API): the smallest transparent GIF, 1x1, one colour.</summary>
internal static class TransparentGif
{
    internal static readonly byte[] Bytes = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");
}
