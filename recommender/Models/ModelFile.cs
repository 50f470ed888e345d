using System.Runtime.InteropServices;
using System.Text;

namespace Ecrm.Recommender.Models;

/// <summary>
/// Saves and loads trained models as one binary file: a header (format, kind, version, training time),
/// the item and user ids, the users' affinity rows, popularity and the item-item matrix. Arrays are
/// written as raw little-endian memory, so loading a model costs about what reading the file costs.
/// Synchronous: run it on a background thread when a service swaps models.
/// </summary>
public static class ModelFile
{
    private const string Magic = "ECRM-ITEM-ITEM-MODEL";
    private const int FormatVersion = 1;

    /// <summary>Writes to a temporary file beside <paramref name="path"/>, then renames it over: a reader sees the old model or the new one, never half of one.</summary>
    public static void Save(ItemItemModel model, string path)
    {
        EnsureLittleEndian();
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
                writer.Write(Magic);
                writer.Write(FormatVersion);
                writer.Write(model.Kind.ToString());
                writer.Write(model.Version);
                writer.Write(model.TrainedAt.UtcTicks);
                var history = model.History;
                WriteStrings(writer, history.Items);
                WriteStrings(writer, history.Users);
                WriteArray<int>(writer, history.RowStarts);
                WriteArray<int>(writer, history.Columns);
                WriteArray<float>(writer, history.Values);
                WriteArray<float>(writer, model.Popularity);
                writer.Write(model.ItemItem is not null);
                if (model.ItemItem is not null)
                {
                    WriteArray<float>(writer, model.ItemItem);
                }

                writer.Flush();
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public static ItemItemModel Load(string path)
    {
        EnsureLittleEndian();
        using var reader = new BinaryReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16), Encoding.UTF8);
        try
        {
            if (reader.ReadString() != Magic || reader.ReadInt32() is var format && format != FormatVersion)
            {
                throw new InvalidDataException($"{path} is not an Ecrm model file of format {FormatVersion}.");
            }

            var kind = Enum.Parse<ModelKind>(reader.ReadString());
            var version = reader.ReadString();
            var trainedAt = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
            var items = ReadStrings(reader);
            var users = ReadStrings(reader);
            var history = new UserItemAffinity(users, items, ReadArray<int>(reader), ReadArray<int>(reader), ReadArray<float>(reader));
            var popularity = ReadArray<float>(reader);
            var itemItem = reader.ReadBoolean() ? ReadArray<float>(reader) : null;
            return new ItemItemModel(kind, version, trainedAt, history, itemItem, popularity);
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException)
        {
            throw new InvalidDataException($"{path} is a damaged model file: {e.Message}", e);
        }
    }

    private static void WriteStrings(BinaryWriter writer, string[] values)
    {
        writer.Write(values.Length);
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }

    private static string[] ReadStrings(BinaryReader reader)
    {
        var values = new string[ReadLength(reader)];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = reader.ReadString();
        }

        return values;
    }

    private static void WriteArray<T>(BinaryWriter writer, T[] values)
        where T : unmanaged
    {
        writer.Write(values.Length);
        writer.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static T[] ReadArray<T>(BinaryReader reader)
        where T : unmanaged
    {
        var values = new T[ReadLength(reader)];
        reader.BaseStream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private static int ReadLength(BinaryReader reader)
    {
        var length = reader.ReadInt32();
        return length >= 0 && length <= reader.BaseStream.Length - reader.BaseStream.Position
            ? length
            : throw new InvalidDataException($"A length of {length} runs past the end of the model file.");
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Model files are little-endian memory images.");
        }
    }
}
